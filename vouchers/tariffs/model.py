"""Tariff definitions as immutable values: tiers, versions, options.

A :class:`Tariff` is a named sequence of :class:`TariffVersion` s, each in force
from ``effective_from`` (a reading date) until the day before the next one
starts, or through ``effective_to`` when that is set. Values here are built by
:mod:`vouchers.tariffs.loader` from the data files and are already validated.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

from vouchers.tariffs.errors import InvalidQuantity, NoVersionInForce, OptionNotOffered
from vouchers.tariffs.quantities import parse_count

PeriodKind = Literal["monthly", "annual"]
AllowanceMode = Literal["deduct", "refund"]

PERIOD_MONTHS: dict[str, int] = {"monthly": 1, "annual": 12}


@dataclass(frozen=True, slots=True)
class Tier:
    """One price step. ``up_to`` is the cumulative kWh bound over a full
    tariff period (``None`` for the last, unbounded tier)."""

    number: int
    up_to: Decimal | None
    price: Decimal


@dataclass(frozen=True, slots=True)
class TimeOfUse:
    """Optional peak/valley (峰谷) pricing: flat adjustments added to every tier
    price. ``valley_adjustment`` is negative (e.g. ``-0.20``)."""

    peak_adjustment: Decimal
    valley_adjustment: Decimal
    peak_hours: str = ""
    valley_hours: str = ""


@dataclass(frozen=True, slots=True)
class Allowance:
    """Low-income (低保/五保) free kWh per monthly bill, valued at the tier-1 price.

    ``deduct``: a negative line on the bill. ``refund``: the bill is unchanged
    and the value is refunded separately (先征后返).
    """

    kwh_per_month: Decimal
    mode: AllowanceMode


@dataclass(frozen=True, slots=True)
class BillingPeriod:
    """A tariff period as a half-open range of billing months: ``start`` is the
    first day of the first month, ``end`` the first day after the last month.
    A reading belongs to the period containing its reading date."""

    start: date
    end: date
    months: int

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day < self.end


def _add_months(first_of_month: date, months: int) -> date:
    index = first_of_month.year * 12 + (first_of_month.month - 1) + months
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True, slots=True)
class TariffVersion:
    tariff_id: str
    effective_from: date
    effective_to: date | None
    period: PeriodKind
    year_start_month: int
    tiers: tuple[Tier, ...]
    time_of_use: TimeOfUse | None = None
    allowance: Allowance | None = None
    source: str = ""
    notes: str = ""

    @property
    def period_months(self) -> int:
        """Billing months in one full tariff period: 1 (monthly) or 12 (annual)."""
        return PERIOD_MONTHS[self.period]

    @property
    def is_flat(self) -> bool:
        return len(self.tiers) == 1

    @property
    def label(self) -> str:
        return f"{self.tariff_id}@{self.effective_from.isoformat()}"

    def months_of_supply(self, months: int | None) -> int:
        """Validate a months-of-supply figure; ``None`` means a full period."""
        if months is None:
            return self.period_months
        count = parse_count(months, "months of supply", 1)
        if count > self.period_months:
            raise InvalidQuantity(
                f"months of supply must be 1 to {self.period_months} for {self.label} "
                f"({self.period} tariff period), got {count}"
            )
        return count

    def bounds(self, months_of_supply: int | None = None) -> tuple[Decimal | None, ...]:
        """Upper tier bounds for an account supplied ``months_of_supply`` months of
        the period: bound x months / period months (part months count whole).
        The loader guarantees this division is exact."""
        months = self.months_of_supply(months_of_supply)
        return tuple(
            None if t.up_to is None else t.up_to * months / self.period_months for t in self.tiers
        )

    def period_for(self, reading_date: date) -> BillingPeriod:
        """The tariff period a reading on ``reading_date`` is accounted in.

        Monthly tariffs: the calendar month of the reading. Annual tariffs: the
        12 billing months starting at ``year_start_month`` (a reading in an
        earlier month belongs to the period that began the year before)."""
        if not isinstance(reading_date, date):
            raise InvalidQuantity("reading date must be a datetime.date")
        month_start = date(reading_date.year, reading_date.month, 1)
        if self.period == "monthly":
            return BillingPeriod(month_start, _add_months(month_start, 1), 1)
        year = reading_date.year if reading_date.month >= self.year_start_month else reading_date.year - 1
        start = date(year, self.year_start_month, 1)
        return BillingPeriod(start, _add_months(start, 12), 12)

    def require_time_of_use(self) -> TimeOfUse:
        if self.time_of_use is None:
            raise OptionNotOffered(f"{self.label} offers no time-of-use (peak/valley) pricing")
        return self.time_of_use

    def require_allowance(self) -> Allowance:
        if self.allowance is None:
            raise OptionNotOffered(f"{self.label} has no low-income allowance")
        return self.allowance


@dataclass(frozen=True, slots=True)
class Tariff:
    id: str
    name: str
    region: str
    currency: str
    versions: tuple[TariffVersion, ...]  # sorted by effective_from, non-overlapping
    source: str = ""
    notes: str = ""
    name_zh: str = ""  # the description a Chinese receipt or bill prints (``name`` when empty)

    def display_name(self, lang: str) -> str:
        """The tariff's description in ``lang`` (zh falls back to ``name`` when no ``name_zh`` is given)."""
        return self.name_zh or self.name if lang == "zh" else self.name

    def version_for(self, reading_date: date) -> TariffVersion:
        """The version in force on ``reading_date``: the new rule applies to all
        kWh read on or after its effective date, without proration."""
        if not isinstance(reading_date, date):
            raise InvalidQuantity("reading date must be a datetime.date")
        candidate: TariffVersion | None = None
        for version in self.versions:
            if version.effective_from <= reading_date:
                candidate = version
        if candidate is None or (candidate.effective_to is not None and reading_date > candidate.effective_to):
            raise NoVersionInForce(f"tariff {self.id} has no version in force on {reading_date.isoformat()}")
        return candidate

    @property
    def current(self) -> TariffVersion:
        """The latest version (by effective date)."""
        return self.versions[-1]
