"""The one exception family of the books.

Every class carries a stable, machine-readable ``code``. The base derives
from :class:`vouchers.errors.VoucherError` so the CLI and the web API map any
ledger refusal to one line / one error document without knowing the details.
"""
from __future__ import annotations

from dataclasses import dataclass

from vouchers.errors import VoucherError
from vouchers.as_of import FutureAsOf


class LedgerError(VoucherError):
    """Base of every error raised by :mod:`vouchers.books`."""

    code = "ledger_error"


# --- the journal -------------------------------------------------------------------


class UnbalancedTransaction(LedgerError, ValueError):
    """Postings that do not sum to zero per currency, or fewer than two."""

    code = "unbalanced_transaction"


class InvalidPosting(LedgerError, ValueError):
    """A posting amount that is not a non-zero integer of minor units."""

    code = "invalid_posting"


class BalanceOutOfRange(LedgerError):
    """Moving a balance would take it past the 64-bit range of the balance rows; nothing is moved.

    (PostgreSQL refuses such an UPDATE itself, SQLSTATE 22003; SQLite would silently store a float.)"""

    code = "balance_out_of_range"


class InvalidAccountCode(LedgerError, ValueError):
    code = "invalid_account_code"


class AccountNotFound(LedgerError):
    code = "ledger_account_not_found"


class IdempotencyConflict(LedgerError):
    """The same (source, external reference) was already booked with other content."""

    code = "idempotency_conflict"


class TransactionNotFound(LedgerError):
    code = "transaction_not_found"


class ReversalNotAllowed(LedgerError):
    """Already reversed, a reversal itself, or a kind that is corrected another way."""

    code = "reversal_not_allowed"


# --- customers -----------------------------------------------------------------------


class UnknownAccount(LedgerError):
    """No customer account (户号) with that number."""

    code = "unknown_account"


class InvalidAccountData(LedgerError, ValueError):
    code = "invalid_account"


class AccountExists(LedgerError):
    code = "account_exists"


class CurrencyMismatch(LedgerError, ValueError):
    code = "currency_mismatch"


# --- channels and payments ---------------------------------------------------------


class UnknownChannel(LedgerError, ValueError):
    code = "unknown_channel"


class InvalidPayment(LedgerError, ValueError):
    """A payment with a missing reference, a non-positive amount, a naive time..."""

    code = "invalid_payment"


class PaymentConflict(IdempotencyConflict):
    """The channel reference was already booked with another amount or account."""

    code = "payment_conflict"


class PaymentNotReversible(ReversalNotAllowed):
    code = "payment_not_reversible"


# --- vouchers ------------------------------------------------------------------------


class ActivationError(LedgerError):
    """Stock that is not approved, not inactive, not in the batch, or consigned to another distributor."""

    code = "activation_refused"


class ConsignmentError(LedgerError):
    """Stock that cannot be consigned: not issued, not inactive, not in the batch, or another's."""

    code = "consignment_refused"


class RedemptionBookingError(LedgerError):
    """The voucher handed to the books is not in a state that can be booked."""

    code = "redemption_not_bookable"


class BatchNotFound(LedgerError):
    code = "batch_not_found"


class InvalidExpiryDate(LedgerError, FutureAsOf):
    """An expiry run as of a day after the business today: cards still valid would expire."""

    code = "invalid_expiry_date"


class InvalidDistributor(LedgerError, ValueError):
    code = "invalid_distributor"


# --- files ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LineError:
    """One bad line of an input file (1-based physical line number)."""

    line: int
    message: str
    external_ref: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {"line": self.line, "message": self.message, "external_ref": self.external_ref}


class FileRejected(LedgerError):
    """A whole file refused: nothing of it was booked. ``errors`` lists bad lines."""

    code = "file_rejected"

    def __init__(self, message: str, errors: list[LineError] | None = None, total_errors: int | None = None):
        self.errors = list(errors or [])
        self.total_errors = total_errors if total_errors is not None else len(self.errors)
        first = f"; first: line {self.errors[0].line}: {self.errors[0].message}" if self.errors else ""
        super().__init__(f"{message}{first}")
        self.summary = message


class WrongEncoding(FileRejected):
    code = "wrong_encoding"


class UnsupportedFormat(LedgerError, ValueError):
    code = "unsupported_format"


class ReconciliationError(LedgerError):
    code = "reconciliation_error"


class ReportError(LedgerError):
    code = "report_error"
