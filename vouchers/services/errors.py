"""Refusals of the money services: narrow classes the edges map to HTTP statuses or CLI lines."""
from __future__ import annotations

from vouchers.errors import VoucherError


class RedemptionRefused(VoucherError):
    """A redemption that must not happen; nothing it did survives the caller's rollback.

    ``counted``: the attempt counts against the throttle (a guessing attempt);
    ``alert``: the fraud alert kind to record, with the card's ``serial`` and
    ``voucher_status`` (never told to the caller).
    """

    code = "invalid_voucher"

    def __init__(self, message: str, *, counted: bool = True, alert: str | None = None,
                 serial: str | None = None, voucher_status: str | None = None) -> None:
        super().__init__(message)
        self.counted = counted
        self.alert = alert
        self.serial = serial
        self.voucher_status = voucher_status


class UnknownPayee(RedemptionRefused):
    """No electricity account with that number (says nothing about the code)."""

    code = "unknown_account"


class VoucherRefused(RedemptionRefused):
    """Unknown, not active, expired, of another currency, a canary or not the token's card: all alike."""

    code = "invalid_voucher"


class TokenRefused(RedemptionRefused):
    """A scanned token whose signature or structure does not verify."""

    code = "invalid_token"


class NothingToVend(VoucherError):
    """A token was required, but all of the money paid arrears."""

    code = "sts_nothing_to_vend"


class FraudReviewError(VoucherError):
    """A fraud analyst's request that cannot be done (unknown hold or case, resolved the other way)."""

    code = "fraud_review"
