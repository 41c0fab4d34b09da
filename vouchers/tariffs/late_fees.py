"""Late-payment penalty (电费违约金) on electricity arrears.

Per the 《供电营业规则》 (1996): a daily rate of the amount owed, from the first
overdue day to the payment day; residential 1 per mille a day, other classes 2
per mille on current-year and 3 per mille on prior-year arrears; a total below
1 yuan is charged as 1 yuan. Rates, minimum and grace days are configuration
(``tariffs/data/late-fees.toml``), versioned by date, because the 2024 revision
of the rules has not been checked.

``fee = max(minimum, round_half_up(sum over charged days of rate * principal))``
where the charged days are the overdue days after the grace days. The
principal excludes earlier penalties: callers pass the arrears only.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, localcontext

from vouchers.tariffs.errors import InvalidQuantity, NoVersionInForce, UnknownCustomerClass
from vouchers.tariffs.quantities import ZERO, parse_amount, parse_count, round_fen

_PRECISION = 60
MAX_DAYS = 36_600  # a century; anything beyond is a data-entry error


@dataclass(frozen=True, slots=True)
class LateFeeRates:
    """Daily rates (fractions, e.g. ``0.001``) for one customer class."""

    current_year: Decimal
    prior_year: Decimal

    def rate(self, prior_year: bool) -> Decimal:
        return self.prior_year if prior_year else self.current_year


@dataclass(frozen=True, slots=True)
class LateFeePolicy:
    """One version of the late-fee rules."""

    effective_from: date
    effective_to: date | None
    minimum: Decimal
    grace_days: int
    classes: tuple[tuple[str, LateFeeRates], ...]
    regulation: str = ""
    source: str = ""
    notes: str = ""

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.classes)

    def rates_for(self, customer_class: str) -> LateFeeRates:
        for name, rates in self.classes:
            if name == customer_class:
                return rates
        raise UnknownCustomerClass(
            f"unknown customer class {customer_class!r} (known: {', '.join(self.class_names)})"
        )


@dataclass(frozen=True, slots=True)
class LateFeeSchedule:
    versions: tuple[LateFeePolicy, ...]  # sorted, non-overlapping
    name: str = ""
    source: str = ""

    @property
    def current(self) -> LateFeePolicy:
        """The latest version (by effective date)."""
        return self.versions[-1]

    def version_for(self, day: date) -> LateFeePolicy:
        if not isinstance(day, date):
            raise InvalidQuantity("date must be a datetime.date")
        candidate: LateFeePolicy | None = None
        for version in self.versions:
            if version.effective_from <= day:
                candidate = version
        if candidate is None or (candidate.effective_to is not None and day > candidate.effective_to):
            raise NoVersionInForce(f"no late-fee rules in force on {day.isoformat()}")
        return candidate


@dataclass(frozen=True, slots=True)
class LateFee:
    fee: Decimal  # what is charged, to the fen
    accrued: Decimal  # exact daily accrual before rounding and the minimum
    days_overdue: int
    days_charged: int  # overdue days after the grace days
    minimum_applied: bool

    @property
    def fee_fen(self) -> int:
        return int(self.fee.scaleb(2))


def _finish(policy: LateFeePolicy, principal: Decimal, accrued: Decimal, overdue: int, charged: int) -> LateFee:
    if charged == 0 or principal == 0:
        return LateFee(Decimal("0.00"), accrued, overdue, charged, False)
    rounded = round_fen(accrued)
    if rounded < policy.minimum:
        return LateFee(policy.minimum, accrued, overdue, charged, True)
    return LateFee(rounded, accrued, overdue, charged, False)


def late_fee(
    policy: LateFeePolicy,
    *,
    principal: Decimal | int | str,
    days: int,
    customer_class: str,
    prior_year: bool = False,
) -> LateFee:
    """The penalty on ``principal`` overdue ``days`` days (``pay_date - due_date``),
    every day at one rate: the prior-year rate when ``prior_year``."""
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        amount = parse_amount(principal, "principal")
        overdue = parse_count(days, "days overdue", 0, MAX_DAYS)
        rate = policy.rates_for(customer_class).rate(bool(prior_year))
        charged = max(0, overdue - policy.grace_days)
        return _finish(policy, amount, amount * rate * charged, overdue, charged)


def late_fee_between(
    schedule: LateFeeSchedule,
    *,
    principal: Decimal | int | str,
    due_date: date,
    pay_date: date,
    customer_class: str,
    arrears_year: int | None = None,
) -> LateFee:
    """The penalty for arrears due on ``due_date`` and paid on ``pay_date``.

    Overdue days are ``due_date + 1 .. pay_date``; the first ``grace_days`` of
    them (from the rules in force on the first overdue day) are free. Each
    charged day uses the rates in force that day, at the prior-year rate once
    the day's year is later than ``arrears_year`` (the year the arrears belong
    to; default: the due date's year). The minimum is that of the rules in
    force on the payment day.
    """
    if not isinstance(due_date, date) or not isinstance(pay_date, date):
        raise InvalidQuantity("due date and payment date must be datetime.date values")
    year = due_date.year if arrears_year is None else parse_count(arrears_year, "arrears year", 1, 9999)
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        amount = parse_amount(principal, "principal")
        overdue = (pay_date - due_date).days
        if overdue <= 0:
            return LateFee(Decimal("0.00"), ZERO, 0, 0, False)
        parse_count(overdue, "days overdue", 0, MAX_DAYS)
        grace = schedule.version_for(due_date + timedelta(days=1)).grace_days
        final = schedule.version_for(pay_date)
        final.rates_for(customer_class)  # an unknown class fails even when nothing accrues
        accrued = ZERO
        charged = 0
        day = due_date + timedelta(days=grace + 1)
        while day <= pay_date:
            rates = schedule.version_for(day).rates_for(customer_class)
            accrued += amount * rates.rate(day.year > year)
            charged += 1
            day += timedelta(days=1)
        return _finish(final, amount, accrued, overdue, charged)
