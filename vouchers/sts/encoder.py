"""Token encoding: fields -> CRC -> 64-bit block -> MISTY1 (EA11) -> transposition -> 20 digits.

Class 0 credit tokens (electricity, water, gas, time) and the class 2 tokens
clear credit, clear tamper condition, set maximum power limit and the four-token
key change set for 128-bit decoder keys. Functions take the decoder key (or a
prepared :class:`~vouchers.sts.misty1.Misty1`), never the vending key: see
:mod:`vouchers.sts.backend` for vending from a vending key.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from vouchers.sts.amount import encode_units
from vouchers.sts.crc import sts_crc
from vouchers.sts.dkga04 import DECODER_KEY_BYTES, MeterKeyParams
from vouchers.sts.errors import InvalidField, InvalidKey
from vouchers.sts.misty1 import Misty1
from vouchers.sts.token_data import (
    REGISTER_ALL,
    CreditSubclass,
    KeyChangeSection,
    ManagementSubclass,
    TokenBlock,
    TokenClass,
    pack_tid_body,
)
from vouchers.sts.transposition import group_digits


_CREDIT_SUBCLASSES = frozenset(int(s) for s in CreditSubclass)


@dataclass(frozen=True, slots=True)
class EncodedToken:
    """A finished token and the intermediate values that produced it.

    The intermediates (``plaintext``, ``ciphertext``...) are for test labs and
    certification; never log them, nor the digits.
    """

    digits: str = field(repr=False)  # kept out of repr so a logged object does not leak it
    token_class: int
    subclass: int
    crc: int = field(repr=False)
    plaintext: int = field(repr=False)
    ciphertext: int = field(repr=False)
    value66: int = field(repr=False)

    @property
    def grouped(self) -> str:
        """The digits in five groups of four, as printed on a receipt."""
        return group_digits(self.digits)


def cipher_for(decoder_key: bytes | Misty1) -> Misty1:
    """A MISTY1 instance for a 16-byte decoder key (or the instance itself)."""
    if isinstance(decoder_key, Misty1):
        return decoder_key
    if not isinstance(decoder_key, (bytes, bytearray)) or len(decoder_key) != DECODER_KEY_BYTES:
        raise InvalidKey(f"a decoder key is {DECODER_KEY_BYTES} bytes")
    return Misty1(decoder_key)


def encode_block(block: TokenBlock, decoder_key: bytes | Misty1) -> EncodedToken:
    """Encrypt one token block under the decoder key and format it."""
    return _encode(block.token_class, block.subclass, block.body, cipher_for(decoder_key))


_BITS_27_28 = (1 << 28) | (1 << 27)


def _encode(token_class: int, subclass: int, body: int, cipher: Misty1) -> EncodedToken:
    # Inputs are already range-checked (TokenBlock or pack_* helpers); the
    # transposition is sts.transposition.transpose_class, inlined for speed.
    crc = sts_crc((token_class << 48) | (subclass << 44) | body)
    plaintext = (subclass << 60) | (body << 16) | crc
    ciphertext = cipher.encrypt_block(plaintext)
    value66 = ((ciphertext & _BITS_27_28) >> 27 << 64) | (ciphertext & ~_BITS_27_28) | (token_class << 27)
    return EncodedToken(f"{value66:020d}", int(token_class), int(subclass), crc, plaintext, ciphertext, value66)


def credit_token(decoder_key: bytes | Misty1, *, subclass: int, rnd: int, tid: int, units: int) -> EncodedToken:
    """Class 0 credit transfer of ``units`` transfer units (0.1 kWh for electricity).

    ``units`` is rounded up to the next value the amount field can carry; see
    :func:`vouchers.sts.amount.representable_units` for what the meter will credit.
    """
    if isinstance(subclass, bool) or subclass not in _CREDIT_SUBCLASSES:
        raise InvalidField("class 0 subclass must be 0 (electricity), 1 (water), 2 (gas) or 3 (time)")
    return _encode(TokenClass.CREDIT, subclass, pack_tid_body(rnd, tid, encode_units(units)), cipher_for(decoder_key))


def set_maximum_power_limit_token(decoder_key: bytes | Misty1, *, rnd: int, tid: int, watts: int) -> EncodedToken:
    """Class 2 subclass 0: the limit in watts, in the amount field's format (rounded up)."""
    return _encode(TokenClass.MANAGEMENT, ManagementSubclass.SET_MAXIMUM_POWER_LIMIT,
                   pack_tid_body(rnd, tid, encode_units(watts)), cipher_for(decoder_key))


def set_maximum_phase_power_unbalance_limit_token(decoder_key: bytes | Misty1, *, rnd: int, tid: int,
                                                   watts: int) -> EncodedToken:
    """Class 2 subclass 6: the phase unbalance limit in watts, amount-field format (rounded up)."""
    return _encode(TokenClass.MANAGEMENT, ManagementSubclass.SET_MAXIMUM_PHASE_POWER_UNBALANCE_LIMIT,
                   pack_tid_body(rnd, tid, encode_units(watts)), cipher_for(decoder_key))


def clear_credit_token(decoder_key: bytes | Misty1, *, rnd: int, tid: int,
                       register: int = REGISTER_ALL) -> EncodedToken:
    """Class 2 subclass 1: clear the credit register(s); 0xFFFF clears all of them."""
    return _encode(TokenClass.MANAGEMENT, ManagementSubclass.CLEAR_CREDIT, pack_tid_body(rnd, tid, register),
                   cipher_for(decoder_key))


def clear_tamper_token(decoder_key: bytes | Misty1, *, rnd: int, tid: int) -> EncodedToken:
    """Class 2 subclass 5: clear the tamper condition (16-bit pad of zeros)."""
    return _encode(TokenClass.MANAGEMENT, ManagementSubclass.CLEAR_TAMPER_CONDITION, pack_tid_body(rnd, tid, 0),
                   cipher_for(decoder_key))


def key_change_sections(new_key: bytes, new: MeterKeyParams, *, rollover: bool = False,
                        ) -> tuple[KeyChangeSection, KeyChangeSection, KeyChangeSection, KeyChangeSection]:
    """The four sections that carry ``new_key`` and the new key parameters.

    ``rollover`` sets the RO bit (a key change that also moves to a new base date).
    The SGC travels as a 24-bit binary number split into SGCHO (high 12 bits, 4th
    section) and SGCLO (low 12 bits, 3rd section).
    """
    if not isinstance(new_key, (bytes, bytearray)) or len(new_key) != DECODER_KEY_BYTES:
        raise InvalidKey(f"a decoder key is {DECODER_KEY_BYTES} bytes")
    k = int.from_bytes(new_key, "big")
    nkho, nkmo2, nkmo1, nklo = k >> 96, (k >> 64) & 0xFFFFFFFF, (k >> 32) & 0xFFFFFFFF, k & 0xFFFFFFFF
    first = (new.ken >> 4) << 8 | new.krn << 4 | int(bool(rollover)) << 3 | 0 << 2 | new.key_type
    second = (new.ken & 0xF) << 8 | new.ti
    return (
        KeyChangeSection(ManagementSubclass.SET_1ST_SECTION_DECODER_KEY, first, nkho),
        KeyChangeSection(ManagementSubclass.SET_2ND_SECTION_DECODER_KEY, second, nklo),
        KeyChangeSection(ManagementSubclass.SET_3RD_SECTION_DECODER_KEY, new.sgc & 0xFFF, nkmo2),
        KeyChangeSection(ManagementSubclass.SET_4TH_SECTION_DECODER_KEY, new.sgc >> 12, nkmo1),
    )


def key_change_tokens(current_key: bytes | Misty1, new_key: bytes, new: MeterKeyParams, *,
                      rollover: bool = False) -> tuple[EncodedToken, EncodedToken, EncodedToken, EncodedToken]:
    """The 1st..4th section key change tokens, each encrypted under the *current* key."""
    cipher = cipher_for(current_key)
    return tuple(  # type: ignore[return-value]
        encode_block(TokenBlock(TokenClass.MANAGEMENT, s.subclass, s.pack()), cipher)
        for s in key_change_sections(new_key, new, rollover=rollover)
    )
