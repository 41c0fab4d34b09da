"""An independent reference for the tariff tests.

Nothing here imports :mod:`vouchers.tariffs`. The published figures of docs/tariffs.md are
written out again below, and bills are computed two other ways than the
implementation does: the incremental method (增量法: every kWh at the tier-1
price plus the price step on the kWh above each bound) and a plain
kWh-by-kWh walk. Rounding is done with integer arithmetic. If the data files,
the implementation or a vector is wrong, one of them disagrees.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "tariffs"
D = Decimal


@dataclass(frozen=True)
class Published:
    """One tariff version as published: bounds are per full tariff period."""

    bounds: tuple[int, ...]
    prices: tuple[Decimal, ...]
    period_months: int = 1
    peak_add: Decimal | None = None  # added per peak kWh
    valley_cut: Decimal | None = None  # subtracted per valley kWh (positive)
    allowance_kwh: int | None = None
    allowance_mode: str | None = None


_FJ_OLD = Published((200, 400), (D("0.4983"), D("0.5483"), D("0.7983")), 1, D("0.03"), D("0.20"), 15, "refund")
_FJ_NEW = Published((230, 420), (D("0.4983"), D("0.5483"), D("0.7983")), 1, D("0.03"), D("0.20"), 15, "refund")
_JX = Published((2160, 4200), (D("0.60"), D("0.65"), D("0.90")), 12, D("0.03"), D("0.12"), 10, "deduct")

# (first reading date, version) per tariff, from docs/tariffs.md §1.
PUBLISHED: dict[str, list[tuple[date, Published]]] = {
    "fj-residential": [(date(2012, 7, 1), _FJ_OLD), (date(2016, 11, 1), _FJ_NEW)],
    "fj-shared-meter": [(date(2012, 7, 1), Published((), (D("0.5330"),)))],
    "jx-residential": [(date(2012, 7, 1), _JX)],
    "jx-shared-meter": [(date(2012, 7, 1), Published((), (D("0.62"),)))],
    "jx-large-family": [(date(2012, 7, 1), Published((), (D("0.62"),)))],
}


def published(tariff: str, reading_date: date) -> Published:
    chosen = None
    for start, version in PUBLISHED[tariff]:
        if start <= reading_date:
            chosen = version
    assert chosen is not None, f"no published version of {tariff} on {reading_date}"
    return chosen


def half_up_fen(x: Decimal) -> Decimal:
    """Round to the fen, halves away from zero, using integers only."""
    scaled = x * 100
    sign = -1 if scaled < 0 else 1
    units = int(abs(scaled))  # truncates
    if abs(scaled) - units >= D("0.5"):
        units += 1
    return D(sign * units) / 100


def scaled_bounds(p: Published, months: int | None) -> list[Decimal]:
    m = p.period_months if months is None else months
    return [D(b) / p.period_months * m for b in p.bounds]


def energy_incremental(p: Published, kwh: Decimal, used_before: Decimal, months: int | None = None) -> Decimal:
    """增量法: k x p1 + sum over bounds of (kWh of this bill above the bound) x (price step)."""
    end = used_before + kwh
    total = kwh * p.prices[0]
    for i, bound in enumerate(scaled_bounds(p, months)):
        above = max(D(0), end - max(used_before, bound))
        total += above * (p.prices[i + 1] - p.prices[i])
    return total


def energy_unit_by_unit(p: Published, kwh: Decimal, used_before: Decimal, months: int | None = None) -> Decimal:
    """Walk the consumption one kWh (or 0.01 kWh) at a time and price each unit."""
    fractional = kwh != kwh.to_integral_value() or used_before != used_before.to_integral_value()
    step = D("0.01") if fractional else D(1)
    bounds = scaled_bounds(p, months)
    total = D(0)
    position = used_before
    for _ in range(int(kwh / step)):
        position += step
        tier = sum(1 for b in bounds if position > b)  # units past a bound belong to the next tier
        total += step * p.prices[tier]
    return total


def bill(p: Published, kwh: Decimal, used_before: Decimal = D(0), months: int | None = None,
         peak: Decimal | None = None, valley: Decimal | None = None,
         low_income: bool = False) -> tuple[Decimal, Decimal]:
    """(total billed, separate allowance refund), both to the fen."""
    amount = energy_incremental(p, kwh, used_before, months)
    if peak is not None or valley is not None:
        assert p.peak_add is not None and p.valley_cut is not None
        amount += (peak or D(0)) * p.peak_add - (valley or D(0)) * p.valley_cut
    refund = D("0.00")
    if low_income:
        assert p.allowance_kwh is not None
        free = min(D(p.allowance_kwh), kwh)
        if p.allowance_mode == "deduct":
            amount -= free * p.prices[0]
        else:
            refund = half_up_fen(free * p.prices[0])
    return half_up_fen(amount), refund


def exact_cost(p: Published, kwh: Decimal, used_before: Decimal, months: int | None = None,
               peak_basis: bool = False) -> Decimal:
    """Unrounded cost of kWh from a position (all at peak price when peak_basis)."""
    cost = energy_incremental(p, kwh, used_before, months)
    if peak_basis:
        assert p.peak_add is not None
        cost += kwh * p.peak_add
    return cost


# --- late fees (《供电营业规则》 1996 as quoted in docs/tariffs.md §3) --------------------

DAILY_RATES = {"residential": (D("0.001"), D("0.001")), "other": (D("0.002"), D("0.003"))}
MINIMUM = D("1.00")


def late_fee_day_by_day(principal: Decimal, due: date, paid: date, customer_class: str,
                        arrears_year: int | None = None, grace_days: int = 0,
                        all_prior_year: bool = False) -> Decimal:
    current, prior = DAILY_RATES[customer_class]
    year = due.year if arrears_year is None else arrears_year
    accrued = D(0)
    charged = 0
    day = due
    skipped = 0
    while day < paid:
        day += timedelta(days=1)
        if skipped < grace_days:
            skipped += 1
            continue
        rate = prior if (all_prior_year or day.year > year) else current
        accrued += principal * rate
        charged += 1
    if charged == 0 or principal == 0:
        return D("0.00")
    return max(MINIMUM, half_up_fen(accrued))


# --- vector files -------------------------------------------------------------------


def load_vectors(name: str, table: str = "vector") -> list[dict[str, Any]]:
    with open(VECTORS / name, "rb") as f:
        document = tomllib.load(f)
    vectors = document[table]
    ids = [v["id"] for v in vectors]
    assert len(ids) == len(set(ids)), f"duplicate vector ids in {name}"
    return vectors
