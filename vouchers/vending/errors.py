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
        """Wrap an :class:`vouchers.sts.errors.StsError`, keeping its code (``sts_key_expired``...)."""
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
    """The key store holds other revisions of the supply group's key than the one looked up."""

    code = "sts_wrong_key_revision"

    def __init__(self, message: str, *, key: tuple[int, int, int] | None = None, held: tuple[int, ...] = ()) -> None:
        super().__init__(message)
        self.key = key  # (sgc, krn, key_type) looked up
        self.held = held  # the revisions the key store holds for that SGC and key type


class NothingToReprint(VendingError):
    code = "sts_nothing_to_reprint"
