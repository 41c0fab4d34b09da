"""DKGA04: the 128-bit decoder key from a vending key, by KDF-HMAC-SHA-256.

NIST SP 800-108 style KDF (feedback mode, no IV, no counter) with one iteration:
``HMAC-SHA-256(vending_key, message)[:16]`` where the message is

    04 | f("04") | f(base date) | f("11") | f(TI)   label: DKGA, BD, EA, TI
    00                                            separator
    04 | f(SGC) | f(KT) | f(KRN) | f(PAN)         context
    00 00 00 80                                   L = 128, 32-bit big-endian

and ``f(s)`` is one length byte followed by the ASCII text ``s``.
"""
from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from vouchers.sts.errors import InvalidField, InvalidKey
from vouchers.sts.pan import MeterPan
from vouchers.sts.tid import KEN_MAX, BaseDate

VENDING_KEY_BYTES = 20  # every published DKGA04 vector uses a 160-bit vending key
DECODER_KEY_BYTES = 16
_L_128 = b"\x00\x00\x00\x80"


def _f(text: str) -> bytes:
    """One length byte, then the ASCII text."""
    raw = text.encode("ascii")
    return bytes((len(raw),)) + raw


def _int_field(name: str, value: int, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidField(f"{name} must be an integer {low}..{high}")
    return value


@dataclass(frozen=True, slots=True)
class MeterKeyParams:
    """Everything that selects a meter's decoder key, except the vending key itself.

    ``sgc`` supply group code (6 digits), ``ti`` tariff index (0..99), ``krn`` key
    revision number (1..9), ``key_type`` KT (0..3), ``ken`` key expiry number (0..255).
    """

    pan: MeterPan
    sgc: int
    ti: int
    krn: int
    key_type: int
    base_date: BaseDate
    ken: int = KEN_MAX
    _message: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.pan, MeterPan):
            raise InvalidField("pan must be a MeterPan")
        if not isinstance(self.base_date, BaseDate):
            raise InvalidField("base_date must be a BaseDate")
        _int_field("the SGC", self.sgc, 0, 999_999)
        _int_field("the TI", self.ti, 0, 99)
        # KRN is a 4-bit field; only the single-digit values are known to be written
        # the same way by DKGA04 (as one decimal digit).
        _int_field("the KRN", self.krn, 1, 9)
        _int_field("the key type", self.key_type, 0, 3)
        _int_field("the KEN", self.ken, 0, KEN_MAX)
        label = b"\x04" + _f("04") + _f(self.base_date.code) + _f("11") + _f(f"{self.ti:02d}")
        context = (b"\x04" + _f(f"{self.sgc:06d}") + _f(str(self.key_type)) + _f(str(self.krn))
                   + _f(self.pan.digits))
        object.__setattr__(self, "_message", label + b"\x00" + context + _L_128)

    def dkga04_message(self) -> bytes:
        """The HMAC message DKGA04 derives this meter's key from (built once, at construction)."""
        return self._message


def check_vending_key(vending_key: bytes) -> bytes:
    """Return ``vending_key`` if it has the length DKGA04 is verified for (20 bytes)."""
    if not isinstance(vending_key, (bytes, bytearray)) or len(vending_key) != VENDING_KEY_BYTES:
        raise InvalidKey(f"a DKGA04 vending key is {VENDING_KEY_BYTES} bytes ({2 * VENDING_KEY_BYTES} hex digits)")
    return bytes(vending_key)


def hmac_output(vending_key: bytes, params: MeterKeyParams) -> bytes:
    """The full 32-byte HMAC-SHA-256 output (the decoder key is its first 16 bytes)."""
    return hmac.digest(check_vending_key(vending_key), params._message, "sha256")


def derive_decoder_key(vending_key: bytes, params: MeterKeyParams) -> bytes:
    """The meter's 128-bit decoder key (EA11 / MISTY1 key)."""
    return hmac_output(vending_key, params)[:DECODER_KEY_BYTES]


def parse_hex_key(text: str, length: int, what: str) -> bytes:
    """Hex text (spaces allowed) to exactly ``length`` bytes, or :class:`InvalidKey`."""
    compact = "".join(str(text).split())
    try:
        raw = bytes.fromhex(compact)
    except ValueError:
        raise InvalidKey(f"the {what} is not valid hex") from None
    if len(raw) != length:
        raise InvalidKey(f"the {what} must be {length} bytes ({2 * length} hex digits)")
    return raw
