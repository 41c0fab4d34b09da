"""Which quotes make a bill: versions by reading date, tariff periods, part years, options."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from vouchers.metering.errors import BillingError
from vouchers.metering.pricing import (
    ReadingUse,
    Terms,
    cached_quote,
    compute_bill,
    lines_from_json,
    months_of_supply,
)
from vouchers.tariffs import load_catalog, quote
from vouchers.tariffs.model import BillingPeriod

CATALOG = load_catalog()
JX = CATALOG.get("jx-residential")
FJ = CATALOG.get("fj-residential")
D = Decimal


def r(day: str, kwh: int, peak: int | None = None, valley: int | None = None) -> ReadingUse:
    return ReadingUse(dt.date.fromisoformat(day), kwh * 100, None if peak is None else peak * 100,
                      None if valley is None else valley * 100)


@pytest.mark.parametrize("start,end,supply_start,supply_end,expected", [
    ("2026-02-01", "2027-02-01", None, None, 12),
    ("2026-02-01", "2027-02-01", "2026-08-10", None, 6),        # docs/tariffs.md §2: six months -> 1080 / 2100
    ("2026-02-01", "2027-02-01", "2026-02-28", None, 12),       # a part month counts whole
    ("2026-02-01", "2027-02-01", None, "2026-04-01", 3),        # closed in April: Feb, Mar, Apr
    ("2026-02-01", "2027-02-01", "2026-05-15", "2026-05-20", 1),
    ("2026-02-01", "2027-02-01", "2025-01-01", "2030-01-01", 12),
    ("2026-03-01", "2026-04-01", "2026-03-31", None, 1),
])
def test_months_of_supply(start, end, supply_start, supply_end, expected) -> None:  # type: ignore[no-untyped-def]
    period = BillingPeriod(dt.date.fromisoformat(start), dt.date.fromisoformat(end), 12)
    day = dt.date.fromisoformat
    assert months_of_supply(period, supply_start and day(supply_start), supply_end and day(supply_end)) == expected


def test_position_counts_only_the_same_tariff_period() -> None:
    used = {("jx-residential", dt.date(2025, 2, 1)): 400_000, ("jx-residential", dt.date(2026, 2, 1)): 200_000}
    bill = compute_bill(JX, Terms("jx-residential"), [r("2026-05-20", 500)], used)
    assert bill.used_before_ckwh == 200_000 and bill.total_fen == 31700
    january = compute_bill(JX, Terms("jx-residential"), [r("2026-01-20", 500)], used)
    assert january.used_before_ckwh == 400_000 and january.tariff_period_start == dt.date(2025, 2, 1)
    assert january.total_fen == 200 * 65 + 300 * 90  # from 4000: 200 kWh up to 4200 at 0.65, 300 at 0.90


def test_a_bill_across_a_tariff_year_boundary() -> None:
    used = {("jx-residential", dt.date(2026, 2, 1)): 420_000}
    bill = compute_bill(JX, Terms("jx-residential"), [r("2027-01-20", 100), r("2027-02-20", 100)], used)
    # January: 100 kWh at tier 3 (0.90); February: a new year, 100 at tier 1 (0.60)
    assert [(line.tier, line.kwh) for line in bill.lines] == [("3", D(100)), ("1", D(100))]
    assert bill.total_fen == 15000
    assert (bill.tariff_period_start, bill.used_before_ckwh, bill.period_kwh_ckwh) == (dt.date(2027, 2, 1), 0,
                                                                                     10_000)


def test_time_of_use_needs_splits() -> None:
    terms = Terms("fj-residential", time_of_use=True)
    with pytest.raises(BillingError, match="peak/valley"):
        compute_bill(FJ, terms, [r("2026-03-31", 100)], {})
    bill = compute_bill(FJ, terms, [r("2026-03-01", 0), r("2026-03-15", 60, 40, 20), r("2026-03-31", 40, 10, 30)], {})
    assert (bill.peak_ckwh, bill.valley_ckwh) == (5000, 5000)
    assert bill.subtotal == D(100) * D("0.4983") + 50 * D("0.03") - 50 * D("0.20")


def test_allowance_once_per_bill() -> None:
    terms = Terms("jx-residential", low_income=True)
    bill = compute_bill(JX, terms, [r("2026-03-10", 50), r("2026-03-20", 50)], {})
    assert [line.tier for line in bill.lines].count("allowance") == 1
    assert bill.subtotal == D(100) * D("0.60") - 10 * D("0.60")


def test_no_version_in_force_is_a_billing_error() -> None:
    with pytest.raises(BillingError, match="no version in force"):
        compute_bill(FJ, Terms("fj-residential"), [r("2010-01-01", 10)], {})
    with pytest.raises(BillingError):
        compute_bill(FJ, Terms("fj-residential"), [], {})
    with pytest.raises(BillingError, match="negative"):
        compute_bill(FJ, Terms("fj-residential"), [ReadingUse(dt.date(2026, 3, 1), -1)], {})


def test_lines_round_trip_through_json() -> None:
    bill = compute_bill(FJ, Terms("fj-residential", time_of_use=True),
                        [r("2026-03-31", 500, 300, 200)], {})
    assert lines_from_json(bill.lines_json()) == bill.lines


def test_cache_gives_the_same_quotes() -> None:
    version = JX.version_for(dt.date(2026, 5, 1))
    for kwh, used in ((D(500), D(2000)), (D("12.34"), D(0)), (D(500), D(2000))):
        assert cached_quote(version, kwh, used, None, None, None, False) == quote(version, kwh, used_before=used)
