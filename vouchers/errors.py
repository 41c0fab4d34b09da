"""One exception family per failure kind; each carries a stable machine code."""
from __future__ import annotations


class VoucherError(Exception):
    """Base of every error raised by the voucher core."""

    code = "voucher_error"


class ConfigError(VoucherError):
    """A configuration value (file or environment) that cannot be used; the message names the key."""

    code = "config_error"


class InvalidMoney(VoucherError, ValueError):
    code = "invalid_amount"


class UnknownCurrency(VoucherError, ValueError):
    code = "unknown_currency"


class InvalidCode(VoucherError, ValueError):
    """A secret code that is malformed or fails its check digit (a typo)."""

    code = "invalid_code_format"


class InvalidSerial(VoucherError, ValueError):
    code = "invalid_serial"


class TokenError(VoucherError):
    """Any reason a signed token is refused. Subclasses narrow it down."""

    code = "invalid_token"


class MalformedToken(TokenError):
    """Wrong prefix, bad Base45, bad CBOR/COSE structure or claims."""

    code = "malformed_token"


class BadSignature(TokenError):
    code = "bad_signature"


class UnknownKey(TokenError):
    code = "unknown_key"


class RevokedKey(TokenError):
    code = "revoked_key"


class ExpiredToken(TokenError):
    code = "expired_token"


class LifecycleError(VoucherError):
    """A state transition that the lifecycle rules do not allow."""

    code = "invalid_transition"
