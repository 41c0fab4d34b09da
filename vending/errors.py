"""Refusals of the vending service; each has a stable ``code`` (``sts_*``)."""
from __future__ import annotations

from vouchers.errors import VoucherError


class VendingError(VoucherError):
    """A token was refused: nothing was issued (and the caller's transaction must roll back)."""

    code = "sts_vending_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @classmethod
    def from_sts(cls, error: Exception) -> VendingError:
        """Wrap an :class:`sts.errors.StsError`, keeping its code (``sts_key_expired``...)."""
        return cls(str(error), code=getattr(error, "code", cls.code))


class InvalidMeter(VendingError):
    code = "sts_invalid_meter"


class UnknownMeter(VendingError):
    code = "sts_unknown_meter"


class MeterInactive(VendingError):
    """The meter was taken out of service (``sts meter deactivate``): no token is issued for it."""

    code = "sts_meter_inactive"


class MeterExists(VendingError):
    code = "sts_meter_exists"


class AccountNotMetered(VendingError):
    code = "sts_account_not_metered"


class NoVendingKey(VendingError):
    code = "sts_no_vending_key"


class WrongKeyRevision(VendingError):
    code = "sts_wrong_key_revision"


class NothingToReprint(VendingError):
    code = "sts_nothing_to_reprint"
