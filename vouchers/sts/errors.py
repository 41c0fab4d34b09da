"""One exception family for the STS package; each class carries a stable ``code``.

Messages never contain key bytes or token digits, so they are safe to show and log.
"""
from __future__ import annotations


class StsError(Exception):
    """Base of every error raised by :mod:`vouchers.sts`."""

    code = "sts_error"


class InvalidInput(StsError, ValueError):
    """A value given to the package is malformed or out of its range."""

    code = "sts_invalid_input"


class InvalidKey(InvalidInput):
    """A vending or decoder key with bad hex or the wrong length."""

    code = "sts_invalid_key"


class InvalidPan(InvalidInput):
    """A meter PAN that is not 18 digits or fails its Luhn check digit."""

    code = "sts_invalid_pan"


class InvalidField(InvalidInput):
    """A token field (class, subclass, RND, SGC, TI, KRN, KT, KEN, ...) out of range."""

    code = "sts_invalid_field"


class InvalidAmount(InvalidInput):
    """An amount that is negative, not a finite decimal, or not representable."""

    code = "sts_invalid_amount"


class AmountTooLarge(InvalidAmount):
    """Above the largest transferable amount (18 201 624 transfer units)."""

    code = "sts_amount_too_large"


class UnknownBaseDate(InvalidInput):
    """A base date other than 1993, 2014 or 2035."""

    code = "sts_unknown_base_date"


class TidOutOfRange(InvalidInput):
    """An issue time before the base date, or after its 24-bit TID rollover."""

    code = "sts_tid_out_of_range"


class KeyExpired(StsError):
    """The TID is beyond what the meter's key expiry number (KEN) accepts."""

    code = "sts_key_expired"


class InvalidTokenNumber(InvalidInput):
    """A token that is not 20 digits or whose value exceeds 66 bits."""

    code = "sts_invalid_token_number"


class UnsupportedToken(StsError):
    """A token class or subclass this package does not implement."""

    code = "sts_unsupported_token"


class CrcMismatch(StsError):
    """The decrypted token's CRC does not match: wrong key, or a mistyped token."""

    code = "sts_crc_mismatch"
