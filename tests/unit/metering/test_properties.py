"""Properties of billing and of money <-> kWh (hypothesis)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from vouchers.metering.positions import Position
from vouchers.metering.prepaid import kwh_for_money
from vouchers.metering.pricing import ReadingUse, Terms, compute_bill
from vouchers.tariffs import load_catalog, quote

CATALOG = load_catalog()
TARIFFS = ["jx-residential", "fj-residential", "jx-shared-meter", "fj-shared-meter"]
DAY = dt.date(2026, 6, 20)

ckwh = st.integers(min_value=0, max_value=800_000)  # up to 8000 kWh in hundredths


def _position(tariff_id: str, used: int, unbilled: int, *, tou: bool = False,
              supply_start: dt.date | None = None) -> Position:
    tariff = CATALOG.get(tariff_id)
    period = tariff.version_for(DAY).period_for(DAY)
    return Position(account_no="X", tariff_id=tariff_id, customer_class="residential", payment_mode="prepaid",
                    low_income=False, time_of_use=tou, large_customer=False, area="a", meter_no="m",
                    supply_start=supply_start, supply_end=None, warning_threshold=None, customer_id=1,
                    currency="CNY", arrears_account_id=1, prepaid_account_id=2,
                    unbilled=(ReadingUse(DAY - dt.timedelta(days=3), unbilled),),
                    used_by_period={(tariff_id, period.start): used})


def _exact_cost(tariff_id: str, used: int, kwh: Decimal, tou: bool, months: int | None) -> Decimal:
    version = CATALOG.get(tariff_id).version_for(DAY)
    q = quote(version, kwh, used_before=Decimal(used).scaleb(-2), months_of_supply=months)
    extra = kwh * version.time_of_use.peak_adjustment if tou else Decimal(0)
    return q.subtotal + extra


@settings(max_examples=300, deadline=None)
@given(tariff_id=st.sampled_from(TARIFFS), used=ckwh, unbilled=ckwh, amount=st.integers(0, 500_000),
       tou=st.booleans(), part_year=st.booleans())
def test_money_to_kwh_to_money(tariff_id: str, used: int, unbilled: int, amount: int, tou: bool,
                               part_year: bool) -> None:
    """x = kWh(money) costs at most the money, one more 0.01 kWh costs more, and the rest is
    less than one tier price (the dearest) per kWh... i.e. less than what 1 kWh costs."""
    tariff = CATALOG.get(tariff_id)
    tou = tou and tariff.version_for(DAY).time_of_use is not None
    supply_start = dt.date(2026, 8, 1) if part_year and tariff.version_for(DAY).period == "annual" else None
    position = _position(tariff_id, used, unbilled, tou=tou, supply_start=supply_start)
    months = 6 if supply_start else None
    x = kwh_for_money(position, amount, CATALOG, DAY)
    money = Decimal(amount).scaleb(-2)
    start = used + unbilled
    cost = _exact_cost(tariff_id, start, x, tou, months)
    assert cost <= money
    more = _exact_cost(tariff_id, start, x + Decimal("0.01"), tou, months)
    assert more > money
    top_price = max(t.price for t in tariff.version_for(DAY).tiers) + (
        tariff.version_for(DAY).time_of_use.peak_adjustment if tou else 0)
    assert money - cost < top_price  # within one tier price of the money


@settings(max_examples=300, deadline=None)
@given(tariff_id=st.sampled_from(TARIFFS), used=ckwh, k1=ckwh, k2=ckwh)
def test_a_bill_never_decreases_when_consumption_grows(tariff_id: str, used: int, k1: int, k2: int) -> None:
    tariff = CATALOG.get(tariff_id)
    period = tariff.version_for(DAY).period_for(DAY)
    position = {(tariff_id, period.start): used}
    small, large = sorted((k1, k2))
    a = compute_bill(tariff, Terms(tariff_id), [ReadingUse(DAY, small)], position)
    b = compute_bill(tariff, Terms(tariff_id), [ReadingUse(DAY, large)], position)
    assert a.subtotal <= b.subtotal and a.total_fen <= b.total_fen


@settings(max_examples=300, deadline=None)
@given(tariff_id=st.sampled_from(TARIFFS), used=ckwh, parts=st.lists(ckwh, min_size=1, max_size=5))
def test_tier_kwh_add_up_and_readings_split_freely(tariff_id: str, used: int, parts: list[int]) -> None:
    """Tier kWh sum to the consumption, and one bill over several readings of a tariff
    period is exactly the bill of their sum (the position moves reading by reading)."""
    tariff = CATALOG.get(tariff_id)
    period = tariff.version_for(DAY).period_for(DAY)
    position = {(tariff_id, period.start): used}
    days = [period.start + dt.timedelta(days=i) for i in range(len(parts))]
    many = compute_bill(tariff, Terms(tariff_id), [ReadingUse(d, k) for d, k in zip(days, parts)], position)
    one = compute_bill(tariff, Terms(tariff_id), [ReadingUse(days[-1], sum(parts))], position)
    assert many.subtotal == one.subtotal and many.total_fen == one.total_fen
    assert sum(line.kwh for line in many.lines if line.kind == "energy") == Decimal(sum(parts)).scaleb(-2)


@settings(max_examples=200, deadline=None)
@given(used=ckwh, k1=ckwh, k2=ckwh)
def test_consecutive_bills_add_up_exactly(used: int, k1: int, k2: int) -> None:
    """Jiangxi: bill(k1 | c0) + bill(k2 | c0 + k1) == bill(k1 + k2 | c0), before rounding."""
    tariff = CATALOG.get("jx-residential")
    start = tariff.version_for(DAY).period_for(DAY).start
    first = compute_bill(tariff, Terms(tariff.id), [ReadingUse(DAY, k1)], {(tariff.id, start): used})
    second = compute_bill(tariff, Terms(tariff.id), [ReadingUse(DAY, k2)], {(tariff.id, start): used + k1})
    both = compute_bill(tariff, Terms(tariff.id), [ReadingUse(DAY, k1 + k2)], {(tariff.id, start): used})
    assert first.subtotal + second.subtotal == both.subtotal
    assert abs(first.total_fen + second.total_fen - both.total_fen) <= 1  # two roundings vs one


@settings(max_examples=500, deadline=None)
@given(tariff_id=st.sampled_from(TARIFFS + ["jx-large-family"]), used=ckwh, kwh=ckwh,
       months=st.sampled_from([None, 1, 6, 11]), low_income=st.booleans(), tou=st.booleans(),
       share=st.integers(0, 100))
def test_the_quote_cache_changes_nothing(tariff_id: str, used: int, kwh: int, months: int | None, low_income: bool,
                                         tou: bool, share: int) -> None:
    """cached_quote (keyed by tier, not position, inside a tier) == tariffs.quote, always."""
    from vouchers.metering.pricing import cached_quote

    version = CATALOG.get(tariff_id).version_for(DAY)
    if version.period == "monthly":
        months = None
    low_income = low_income and version.allowance is not None
    peak = valley = None
    if tou and version.time_of_use is not None:
        peak = Decimal(kwh * share // 100).scaleb(-2)
        valley = Decimal(kwh).scaleb(-2) - peak
    k, c0 = Decimal(kwh).scaleb(-2), Decimal(used).scaleb(-2)
    for _ in range(2):  # a miss, then a hit
        got = cached_quote(version, k, c0, months, peak, valley, low_income)
        assert got == quote(version, k, used_before=c0, months_of_supply=months, peak=peak, valley=valley,
                            low_income=low_income)
