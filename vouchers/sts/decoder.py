"""Token decoding: 20 digits + decoder key -> class, subclass and fields, CRC checked.

The reverse of :mod:`vouchers.sts.encoder`, as a meter (or a customer-service desk) does it.
"""
from __future__ import annotations

from dataclasses import dataclass

from vouchers.sts.amount import decode_field
from vouchers.sts.crc import sts_crc
from vouchers.sts.encoder import cipher_for
from vouchers.sts.errors import CrcMismatch, UnsupportedToken
from vouchers.sts.misty1 import Misty1
from vouchers.sts.token_data import (
    BODY_MASK,
    KEY_CHANGE_SUBCLASSES,
    TID_MANAGEMENT_SUBCLASSES,
    KeyChangeSection,
    TidBody,
    TokenClass,
)
from vouchers.sts.transposition import parse_digits, untranspose

_CREDIT_KINDS = {0: "electricity_credit", 1: "water_credit", 2: "gas_credit", 3: "time_credit"}
_MANAGEMENT_KINDS = {
    0: "set_maximum_power_limit",
    1: "clear_credit",
    2: "set_tariff_rate",
    3: "set_1st_section_decoder_key",
    4: "set_2nd_section_decoder_key",
    5: "clear_tamper_condition",
    6: "set_maximum_phase_power_unbalance_limit",
    7: "set_water_meter_factor",
    8: "set_3rd_section_decoder_key",
    9: "set_4th_section_decoder_key",
}


@dataclass(frozen=True, slots=True)
class DecodedToken:
    """What a decoder key makes of a token.

    When ``crc_ok`` is false the fields are noise (wrong key or a mistyped token);
    callers should use :meth:`verified` or check ``crc_ok`` before trusting them.
    """

    token_class: int
    subclass: int
    body: int
    crc: int
    crc_ok: bool

    @property
    def kind(self) -> str:
        """A stable name such as ``electricity_credit`` or ``clear_credit``."""
        if self.token_class == TokenClass.CREDIT:
            return _CREDIT_KINDS.get(self.subclass, "currency_credit" if self.subclass < 8 else "reserved")
        return _MANAGEMENT_KINDS.get(self.subclass, "reserved")

    @property
    def has_tid(self) -> bool:
        return self.token_class == TokenClass.CREDIT or self.subclass in TID_MANAGEMENT_SUBCLASSES

    @property
    def tid_body(self) -> TidBody | None:
        """RND, TID and the 16-bit data field, for tokens that carry a TID."""
        return TidBody.unpack(self.body) if self.has_tid else None

    @property
    def rnd(self) -> int | None:
        return (self.body >> 40) & 0xF if self.has_tid else None

    @property
    def tid(self) -> int | None:
        return (self.body >> 16) & 0xFFFFFF if self.has_tid else None

    @property
    def data(self) -> int | None:
        """The 16-bit field (amount, limit, register or pad) of a TID token."""
        return self.body & 0xFFFF if self.has_tid else None

    @property
    def units(self) -> int | None:
        """Transfer units of a class 0 subclass 0-3 token (0.1 kWh for electricity)."""
        if self.token_class == TokenClass.CREDIT and self.subclass in _CREDIT_KINDS:
            return decode_field(self.body & 0xFFFF)
        return None

    @property
    def key_change(self) -> KeyChangeSection | None:
        if self.token_class == TokenClass.MANAGEMENT and self.subclass in KEY_CHANGE_SUBCLASSES:
            return KeyChangeSection.unpack(self.subclass, self.body)
        return None

    def verified(self) -> DecodedToken:
        """Return self, or raise :class:`CrcMismatch` if the CRC did not match."""
        if not self.crc_ok:
            raise CrcMismatch("the token does not decode under this key (wrong key or mistyped token)")
        return self


def decode_value(value66: int, decoder_key: bytes | Misty1) -> DecodedToken:
    """Decode a 66-bit token value."""
    token_class, ciphertext = untranspose(value66)
    if token_class == TokenClass.NON_METER_SPECIFIC:
        raise UnsupportedToken("class 1 (non-meter-specific) tokens are not implemented")
    if token_class == TokenClass.RESERVED:
        raise UnsupportedToken("class 3 tokens are reserved")
    plaintext = cipher_for(decoder_key).decrypt_block(ciphertext)
    subclass = plaintext >> 60
    body = (plaintext >> 16) & BODY_MASK
    crc = plaintext & 0xFFFF
    crc_ok = sts_crc((token_class << 48) | (subclass << 44) | body) == crc
    return DecodedToken(token_class, subclass, body, crc, crc_ok)


def decode_token(token: str, decoder_key: bytes | Misty1) -> DecodedToken:
    """Decode 20 token digits (spaces and dashes between groups allowed)."""
    return decode_value(parse_digits(token), decoder_key)
