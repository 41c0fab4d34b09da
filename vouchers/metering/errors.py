"""The one exception family of the billing side (``metering``).

Every class carries a stable, machine-readable ``code``. The base derives
from :class:`vouchers.errors.VoucherError`, so the CLI prints any refusal as
one line and the web API can map it to one error document.
"""
from __future__ import annotations

from dataclasses import dataclass

from vouchers.errors import VoucherError


class MeteringError(VoucherError):
    """Base of every error raised by :mod:`vouchers.metering`."""

    code = "metering_error"


class InvalidAssignment(MeteringError, ValueError):
    """A tariff assignment with a bad field (class, mode, area, meter...)."""

    code = "invalid_assignment"


class UnknownTariff(MeteringError, ValueError):
    code = "unknown_tariff"


class NotAssigned(MeteringError):
    """The account has no tariff assignment: it is not billed from readings."""

    code = "account_not_metered"


class MeterInUse(MeteringError):
    code = "meter_in_use"


class UnknownMeter(MeteringError):
    code = "unknown_meter"


class InvalidReading(MeteringError, ValueError):
    """A reading that is malformed, negative, decreasing, out of order or conflicting."""

    code = "invalid_reading"


class DecreasingReading(InvalidReading):
    code = "decreasing_reading"


class ReadingConflict(InvalidReading):
    """The same meter and day was already recorded with other values."""

    code = "reading_conflict"


@dataclass(frozen=True)
class LineError:
    """One bad line of a readings file (1-based physical line number)."""

    line: int
    code: str
    message: str

    def as_dict(self) -> dict[str, object]:
        return {"line": self.line, "code": self.code, "message": self.message}


class ReadingsRejected(MeteringError):
    """A whole readings file refused: nothing of it was stored."""

    code = "readings_rejected"

    def __init__(self, message: str, errors: list[LineError], total_errors: int, lines: int):
        self.errors = list(errors)
        self.total_errors = total_errors
        self.lines = lines
        first = f"; first: line {errors[0].line}: {errors[0].message}" if errors else ""
        super().__init__(f"{message}{first}")
        self.summary = message


class InvalidPeriod(MeteringError, ValueError):
    code = "invalid_period"


class BillingError(MeteringError):
    """One account could not be billed (the run records it and goes on)."""

    code = "billing_error"


class BillNotFound(MeteringError):
    code = "bill_not_found"


class OrderNotFound(MeteringError):
    code = "order_not_found"


class OrderStateError(MeteringError):
    """An order acknowledged twice with different results, or a bad result."""

    code = "order_state"


class OrderNotDue(MeteringError):
    """An order acknowledged before its ``not_before``: the head-end acted too early."""

    code = "order_not_due"


class ConfigError(MeteringError, ValueError):
    code = "metering_config"


class ReportError(MeteringError):
    code = "metering_report"
