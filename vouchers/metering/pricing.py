"""One account's bill from its unbilled readings: pure, no database.

The tariff arithmetic is :func:`vouchers.tariffs.quote`; this module decides *what*
to quote:

* **Version by reading date.** Each reading's kWh are priced by the tariff
  version in force on its reading date (docs/tariffs.md §2: the new rule applies
  to all kWh read on or after the effective date, no proration). Readings
  are grouped by (version, tariff period) and each group is one quote.
* **Position in the tariff period.** ``used_before`` of a group is the kWh
  of earlier bills in the same tariff period (the tariff year for Jiangxi's
  annual tiers, the month for Fujian) plus the earlier groups of this bill
  in that period. So a Jiangxi bill whose running total crosses 2160 kWh
  pays the tier-2 price on exactly the kWh above it.
* **Part-year accounts.** Months of supply = the billing months of the
  tariff period inside the account's supply window; a part month counts as a
  whole month (docs/tariffs.md §2).
* **Time of use.** The peak/valley split of each group is the sum of its
  readings' peak and valley consumption.
* **Low-income allowance.** Once per bill, on the last group with
  consumption (a bill is one month's bill; a catch-up bill covering several
  months still gets one allowance).
* **One rounding.** The exact subtotals of all groups are added and the sum
  is rounded once, half-up, to the fen.

Quotes are memoised (they are pure functions of their arguments), which
pays off in a billing run where many accounts share a consumption figure.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple, Protocol

from vouchers.metering.errors import BillingError
from vouchers.metering.units import from_kwh, round_half_up_fen, to_kwh
from vouchers.tariffs import Quote, Tariff, TariffVersion, quote
from vouchers.tariffs.errors import TariffError
from vouchers.tariffs.model import BillingPeriod

ZERO = Decimal(0)


class ReadingUse(NamedTuple):
    """Consumption recorded by one reading (since the account's previous one).

    (A named tuple: immutable, and cheaper to build than a frozen dataclass for the
    readings of every account of a billing run.)"""

    reading_date: dt.date
    kwh_ckwh: int
    peak_ckwh: int | None = None
    valley_ckwh: int | None = None


class BillTerms(Protocol):
    """What pricing reads of an account's billing options: :class:`Terms`, or an object with the same
    attributes (a billing batch passes its :class:`vouchers.metering.positions.Position` as is)."""

    @property
    def low_income(self) -> bool: ...
    @property
    def time_of_use(self) -> bool: ...
    @property
    def supply_start(self) -> dt.date | None: ...
    @property
    def supply_end(self) -> dt.date | None: ...


@dataclass(frozen=True, slots=True)
class Terms:
    """The billing options of one account."""

    tariff_id: str
    low_income: bool = False
    time_of_use: bool = False
    supply_start: dt.date | None = None
    supply_end: dt.date | None = None


@dataclass(frozen=True, slots=True)
class BillLine:
    version_from: dt.date
    tier: str
    kind: str
    kwh: Decimal
    price: Decimal
    amount: Decimal

    def as_list(self) -> list[str]:
        return [self.version_from.isoformat(), self.tier, self.kind, format(self.kwh, "f"),
                format(self.price, "f"), format(self.amount, "f")]


@dataclass(frozen=True, slots=True)
class BillCalc:
    tariff_id: str
    version_from: dt.date  # the version of the closing reading
    tariff_period_start: dt.date
    months_of_supply: int
    opening_date: dt.date | None
    closing_date: dt.date
    kwh_ckwh: int
    peak_ckwh: int | None
    valley_ckwh: int | None
    used_before_ckwh: int  # position in the closing tariff period before this bill
    period_kwh_ckwh: int  # kWh of this bill counted in the closing tariff period
    lines: tuple[BillLine, ...]
    subtotal: Decimal
    total_fen: int
    allowance_kwh: Decimal
    allowance_refund_fen: int

    def lines_json(self) -> str:
        return json.dumps([line.as_list() for line in self.lines], separators=(",", ":"))


def lines_from_json(text: str) -> tuple[BillLine, ...]:
    return tuple(BillLine(dt.date.fromisoformat(v), tier, kind, Decimal(kwh), Decimal(price), Decimal(amount))
                 for v, tier, kind, kwh, price, amount in json.loads(text))


def _month_index(day: dt.date) -> int:
    return day.year * 12 + day.month - 1


def months_of_supply(period: BillingPeriod, supply_start: dt.date | None, supply_end: dt.date | None) -> int:
    """Billing months of ``period`` in which the account is supplied (part months count whole)."""
    first = _month_index(period.start)
    last = _month_index(period.end) - 1
    if supply_start is not None:
        first = max(first, _month_index(supply_start))
    if supply_end is not None:
        last = min(last, _month_index(supply_end))
    return max(1, last - first + 1)


_CACHE: dict[tuple, tuple[TariffVersion, Quote]] = {}
_CACHE_LIMIT = 4096  # bounded: a few MiB of quotes; the hot keys are few (whole kWh inside a tier)


_BOUNDS: dict[tuple[int, int | None], tuple[TariffVersion, tuple[Decimal | None, ...]]] = {}


def _bounds(version: TariffVersion, months: int | None) -> tuple[Decimal | None, ...]:
    key = (id(version), months)
    hit = _BOUNDS.get(key)
    if hit is None or hit[0] is not version:
        hit = (version, version.bounds(months))
        _BOUNDS[key] = hit
    return hit[1]


def _same_tier_start(bounds: tuple[Decimal | None, ...], start: Decimal, end: Decimal) -> Decimal | None:
    """The lower bound of the tier holding all of ``start..end``, or None if a bound lies inside."""
    lower = ZERO
    for upper in bounds:
        if upper is None or end <= upper:
            return lower if start >= lower else None
        lower = upper
    return None  # pragma: no cover - the last tier has no bound


def cached_quote(version: TariffVersion, kwh: Decimal, used_before: Decimal, months: int | None,
                 peak: Decimal | None, valley: Decimal | None, low_income: bool) -> Quote:
    """:func:`vouchers.tariffs.quote`, memoised by the identity of the version object.

    Within one tier every kWh costs the same, so a reading that does not cross
    a tier bound costs the same from any position inside that tier: the
    cache key uses the tier's lower bound instead of the exact position
    (the time-of-use and allowance lines do not depend on the position at
    all). The quote returned carries the caller's real ``used_before``.
    """
    position = used_before
    tier_start = _same_tier_start(_bounds(version, months), used_before, used_before + kwh)
    if tier_start is not None:
        position = tier_start
    key = (id(version), kwh, position, months, peak, valley, low_income)
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is version:
        result = hit[1]
    else:
        result = quote(version, kwh, used_before=position, months_of_supply=months, peak=peak, valley=valley,
                       low_income=low_income)
        if len(_CACHE) >= _CACHE_LIMIT:
            _CACHE.clear()
        _CACHE[key] = (version, result)
    return result if result.used_before == used_before else dataclasses.replace(result, used_before=used_before)


_PERIODS: dict[tuple[int, dt.date], tuple[Tariff, TariffVersion, BillingPeriod]] = {}


def _version_and_period(tariff: Tariff, day: dt.date) -> tuple[TariffVersion, BillingPeriod]:
    """``tariff.version_for(day)`` and its ``period_for(day)``, memoised (reading days repeat a lot)."""
    key = (id(tariff), day)
    hit = _PERIODS.get(key)
    if hit is None or hit[0] is not tariff:
        version = tariff.version_for(day)
        hit = (tariff, version, version.period_for(day))
        if len(_PERIODS) >= _CACHE_LIMIT:
            _PERIODS.clear()
        _PERIODS[key] = hit
    return hit[1], hit[2]


@dataclass
class _Group:
    version: TariffVersion
    period: BillingPeriod
    kwh: int = 0
    peak: int | None = 0
    valley: int | None = 0
    last_date: dt.date | None = None


def compute_bill(tariff: Tariff, terms: BillTerms, readings: Sequence[ReadingUse],
                 used_by_period: Mapping[tuple[str, dt.date], int], *,
                 opening_date: dt.date | None = None) -> BillCalc:
    """Price ``readings`` (unbilled, in date order, at least one) for one account.

    ``used_by_period`` maps (tariff id, tariff period start) to the kWh
    (hundredths) already billed in that period. Raises :class:`BillingError`
    for anything that stops this account from being billed.
    """
    if not readings:
        raise BillingError("no readings to bill")
    groups: list[_Group] = []
    try:
        for reading in readings:
            if reading.kwh_ckwh < 0:
                raise BillingError(f"negative consumption on {reading.reading_date}")
            version, period = _version_and_period(tariff, reading.reading_date)
            group = groups[-1] if groups else None
            if group is None or group.version is not version or group.period != period:
                group = _Group(version, period)
                groups.append(group)
            group.kwh += reading.kwh_ckwh
            group.last_date = reading.reading_date
            if reading.peak_ckwh is None or reading.valley_ckwh is None:
                if not reading.kwh_ckwh:
                    continue  # nothing consumed: nothing to split
                if terms.time_of_use:
                    raise BillingError(f"time-of-use account: the reading of {reading.reading_date} has no "
                                       "peak/valley split")
                group.peak = group.valley = None
            elif group.peak is not None and group.valley is not None:
                group.peak += reading.peak_ckwh
                group.valley += reading.valley_ckwh
    except TariffError as e:
        raise BillingError(f"{e}") from e

    last_with_kwh = max((i for i, g in enumerate(groups) if g.kwh), default=None)
    lines: list[BillLine] = []
    subtotal = ZERO
    refund_fen = 0
    allowance_kwh = ZERO
    position: dict[tuple[str, dt.date], int] = {}
    for index, group in enumerate(groups):
        key = (tariff.id, group.period.start)
        used = position.get(key, used_by_period.get(key, 0))
        position[key] = used + group.kwh
        if not group.kwh:
            continue
        months = months_of_supply(group.period, terms.supply_start, terms.supply_end)
        peak = valley = None
        if terms.time_of_use:
            if group.peak is None or group.valley is None:  # pragma: no cover - refused above
                raise BillingError("time-of-use split missing")
            peak, valley = to_kwh(group.peak), to_kwh(group.valley)
        try:
            q = cached_quote(group.version, to_kwh(group.kwh), to_kwh(used),
                             None if months >= group.version.period_months else months,
                             peak, valley, terms.low_income and index == last_with_kwh)
        except TariffError as e:
            raise BillingError(f"{e}") from e
        subtotal += q.subtotal
        refund_fen += q.allowance_refund_fen
        allowance_kwh += q.allowance_kwh
        lines.extend(BillLine(group.version.effective_from, line.tier, line.kind, line.kwh, line.price, line.amount)
                     for line in q.lines)

    closing = groups[-1]
    closing_key = (tariff.id, closing.period.start)
    period_kwh = position[closing_key] - used_by_period.get(closing_key, 0)
    total_kwh = sum(g.kwh for g in groups)
    peaks = [g.peak for g in groups]
    valleys = [g.valley for g in groups]
    return BillCalc(
        tariff_id=tariff.id,
        version_from=closing.version.effective_from,
        tariff_period_start=closing.period.start,
        months_of_supply=months_of_supply(closing.period, terms.supply_start, terms.supply_end),
        opening_date=opening_date,
        closing_date=readings[-1].reading_date,
        kwh_ckwh=total_kwh,
        peak_ckwh=None if any(p is None for p in peaks) else sum(p for p in peaks if p is not None),
        valley_ckwh=None if any(v is None for v in valleys) else sum(v for v in valleys if v is not None),
        used_before_ckwh=used_by_period.get(closing_key, 0),
        period_kwh_ckwh=period_kwh,
        lines=tuple(lines),
        subtotal=subtotal,
        total_fen=round_half_up_fen(subtotal),
        allowance_kwh=allowance_kwh,
        allowance_refund_fen=refund_fen,
    )


class QuickBill(NamedTuple):
    """A bill priced by :func:`quick_bill`: the figures of :class:`BillCalc` a billing run
    stores, with the lines already as JSON (``BillCalc.lines_json``) and the subtotal as text.

    A named tuple rather than a frozen dataclass (immutable all the same): a
    billing run makes one per account, and this is several times cheaper to build."""

    tariff_id: str
    version_from: dt.date
    tariff_period_start: dt.date
    months_of_supply: int
    opening_date: dt.date | None
    closing_date: dt.date
    kwh_ckwh: int
    peak_ckwh: int | None
    valley_ckwh: int | None
    used_before_ckwh: int
    period_kwh_ckwh: int
    lines_json: str
    subtotal_text: str
    total_fen: int
    allowance_refund_fen: int = 0

    @classmethod
    def of(cls, calc: BillCalc) -> QuickBill:
        return cls(calc.tariff_id, calc.version_from, calc.tariff_period_start, calc.months_of_supply,
                   calc.opening_date, calc.closing_date, calc.kwh_ckwh, calc.peak_ckwh, calc.valley_ckwh,
                   calc.used_before_ckwh, calc.period_kwh_ckwh, calc.lines_json(), format(calc.subtotal, "f"),
                   calc.total_fen, calc.allowance_refund_fen)


# (id(version), kWh, position or tier start, months) -> (version, lines JSON, subtotal text, total fen)
_PRICED: dict[tuple, tuple[TariffVersion, str, str, int]] = {}
_PRICED_LIMIT = 16384  # a few MiB at most: bounded, whatever the number of accounts
_CKWH_BOUNDS: dict[tuple[int, int | None], tuple[TariffVersion, tuple[int, ...] | None]] = {}
_MONTHS: dict[tuple[dt.date, dt.date, dt.date | None, dt.date | None], int] = {}


def _ckwh_bounds(version: TariffVersion, months: int | None) -> tuple[int, ...] | None:
    """The finite tier bounds in hundredths of a kWh, or None if one is not a whole hundredth."""
    key = (id(version), months)
    hit = _CKWH_BOUNDS.get(key)
    if hit is None or hit[0] is not version:
        ckwh: list[int] | None = []
        for bound in _bounds(version, months):
            if bound is None:
                break
            scaled = bound * 100
            if scaled != scaled.to_integral_value():
                ckwh = None
                break
            ckwh.append(int(scaled))
        hit = (version, None if ckwh is None else tuple(ckwh))
        _CKWH_BOUNDS[key] = hit
    return hit[1]


def _priced(version: TariffVersion, kwh: int, used: int, months: int | None) -> tuple[str, str, int]:
    """(lines JSON, subtotal text, total fen) of one group of ``kwh`` hundredths from position ``used``:
    exactly what :func:`compute_bill` gives for it, memoised like :func:`cached_quote` (a group that
    stays inside one tier costs the same from anywhere in that tier)."""
    position = used
    bounds = _ckwh_bounds(version, months)
    if bounds is not None:
        end = used + kwh
        lower = 0
        for upper in bounds:
            if end <= upper:
                break
            lower = upper
        if used >= lower:
            position = -1 - lower  # any position in the tier from ``lower``: one key
    key = (id(version), kwh, position, months)
    hit = _PRICED.get(key)
    if hit is not None and hit[0] is version:
        return hit[1], hit[2], hit[3]
    q = cached_quote(version, to_kwh(kwh), to_kwh(used), months, None, None, False)
    subtotal = ZERO + q.subtotal
    effective = version.effective_from
    lines = json.dumps([BillLine(effective, line.tier, line.kind, line.kwh, line.price, line.amount).as_list()
                        for line in q.lines], separators=(",", ":"))
    result = (lines, format(subtotal, "f"), round_half_up_fen(subtotal))
    if len(_PRICED) >= _PRICED_LIMIT:
        _PRICED.clear()
    _PRICED[key] = (version, *result)
    return result


def _months(period: BillingPeriod, supply_start: dt.date | None, supply_end: dt.date | None) -> int:
    key = (period.start, period.end, supply_start, supply_end)
    months = _MONTHS.get(key)
    if months is None:
        if len(_MONTHS) >= _CACHE_LIMIT:
            _MONTHS.clear()
        months = _MONTHS[key] = months_of_supply(period, supply_start, supply_end)
    return months


def quick_bill(tariff: Tariff, terms: BillTerms, readings: Sequence[ReadingUse],
               used_by_period: Mapping[tuple[str, dt.date], int], *,
               opening_date: dt.date | None = None) -> QuickBill:
    """:func:`compute_bill`, faster for the common bill, with the same result.

    The common bill: no time of use, no low-income allowance, and every
    reading in one tariff version and one tariff period (readings are in date
    order, so the first and the last reading decide). It is priced from
    per-version tables memoised by (kWh, position in the tier) and needs no
    per-line objects. Anything else goes through :func:`compute_bill`.
    """
    if readings and not terms.time_of_use and not terms.low_income:
        first, last = readings[0], readings[-1]
        try:
            version, period = _version_and_period(tariff, last.reading_date)
            same = first is last or _version_and_period(tariff, first.reading_date) == (version, period)
        except TariffError:
            same = False
        if same:
            kwh = 0
            peak: int | None = 0
            valley: int | None = 0
            for reading in readings:
                use = reading.kwh_ckwh
                if use < 0:
                    break
                kwh += use
                if reading.peak_ckwh is None or reading.valley_ckwh is None:
                    if use:
                        peak = valley = None
                elif peak is not None and valley is not None:
                    peak += reading.peak_ckwh
                    valley += reading.valley_ckwh
            else:
                key = (tariff.id, period.start)
                used = used_by_period.get(key, 0)
                months = _months(period, terms.supply_start, terms.supply_end)
                if kwh:
                    lines, subtotal, total = _priced(version, kwh, used,
                                                     None if months >= version.period_months else months)
                else:
                    lines, subtotal, total = "[]", "0", 0
                return QuickBill(tariff.id, version.effective_from, period.start, months, opening_date,
                                 last.reading_date, kwh, peak, valley, used, kwh, lines, subtotal, total)
    return QuickBill.of(compute_bill(tariff, terms, readings, used_by_period, opening_date=opening_date))


def position_in_period(tariff: Tariff, on: dt.date, unbilled: Iterable[ReadingUse],
                       used_by_period: Mapping[tuple[str, dt.date], int]) -> tuple[TariffVersion, BillingPeriod, int]:
    """(version, tariff period, kWh hundredths counted so far) of an account on day ``on``:
    billed kWh of the period plus unbilled readings in it."""
    version = tariff.version_for(on)
    period = version.period_for(on)
    used = used_by_period.get((tariff.id, period.start), 0)
    used += sum(r.kwh_ckwh for r in unbilled if r.reading_date in period)
    return version, period, used


__all__ = ["BillCalc", "BillLine", "BillTerms", "QuickBill", "ReadingUse", "Terms", "compute_bill", "from_kwh",
           "lines_from_json", "months_of_supply", "position_in_period", "quick_bill"]
