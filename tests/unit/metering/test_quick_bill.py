"""quick_bill (the billing run's pricing) gives exactly compute_bill's bill, field for field."""
from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from vouchers.metering import pricing
from vouchers.metering.errors import BillingError
from vouchers.metering.pricing import QuickBill, ReadingUse, Terms, compute_bill, quick_bill
from vouchers.tariffs import load_catalog

CATALOG = load_catalog()
TARIFF_IDS = sorted(t.id for t in CATALOG)

days = st.dates(min_value=dt.date(2015, 1, 1), max_value=dt.date(2027, 12, 31))
ckwh = st.one_of(st.integers(0, 800).map(lambda k: k * 100), st.integers(0, 80_000))  # whole kWh and 0.01 steps


@st.composite
def bills(draw):  # type: ignore[no-untyped-def]
    tariff = CATALOG.get(draw(st.sampled_from(TARIFF_IDS)))
    first = draw(days)
    gaps = draw(st.lists(st.integers(0, 70), min_size=0, max_size=3))
    dates = [first]
    for gap in gaps:
        dates.append(dates[-1] + dt.timedelta(days=gap + 1))
    with_split = draw(st.booleans())
    readings = []
    for day in dates:
        use = draw(ckwh)
        if with_split and draw(st.booleans()):
            peak = draw(st.integers(0, use))
            readings.append(ReadingUse(day, use, peak, use - peak))
        else:
            readings.append(ReadingUse(day, use))
    start = draw(st.one_of(st.none(), days))
    end = draw(st.one_of(st.none(), days))
    if start and end and end < start:
        start, end = end, start
    terms = Terms(tariff.id, low_income=draw(st.booleans()) and draw(st.booleans()),
                  time_of_use=draw(st.booleans()) and draw(st.booleans()), supply_start=start, supply_end=end)
    used = {}
    for day in dates:
        try:
            version = tariff.version_for(day)
        except Exception:  # noqa: BLE001 - no version in force: compute_bill refuses it, so must quick_bill
            continue
        if draw(st.booleans()):
            used[(tariff.id, version.period_for(day).start)] = draw(st.integers(0, 600_000))
    return tariff, terms, readings, used


def _outcome(fn, tariff, terms, readings, used):  # type: ignore[no-untyped-def]
    try:
        result = fn(tariff, terms, readings, used, opening_date=dt.date(2014, 12, 31))
    except BillingError as e:
        return ("error", str(e))
    return QuickBill.of(result) if not isinstance(result, QuickBill) else result


@settings(max_examples=400, deadline=None)
@given(bills())
def test_quick_bill_equals_compute_bill(case) -> None:  # type: ignore[no-untyped-def]
    tariff, terms, readings, used = case
    assert _outcome(quick_bill, *case) == _outcome(compute_bill, *case)
    # and again from a warm memo (a second account with the same figures)
    assert _outcome(quick_bill, *case) == _outcome(compute_bill, *case)


def test_memo_shares_a_tier_but_not_a_crossing() -> None:
    jx = CATALOG.get("jx-residential")
    terms = Terms(jx.id)
    reading = [ReadingUse(dt.date(2026, 11, 20), 10_000)]  # 100 kWh
    start = dt.date(2026, 2, 1)
    inside_a = quick_bill(jx, terms, reading, {(jx.id, start): 10_000})
    inside_b = quick_bill(jx, terms, reading, {(jx.id, start): 150_000})
    crossing = quick_bill(jx, terms, reading, {(jx.id, start): 211_000})  # 50 kWh below 2160, 50 above
    assert inside_a.total_fen == inside_b.total_fen == 6000
    assert crossing.total_fen == 50 * 60 + 50 * 65
    assert (inside_a.used_before_ckwh, inside_b.used_before_ckwh, crossing.used_before_ckwh) == (10_000, 150_000,
                                                                                               211_000)
    assert crossing == QuickBill.of(compute_bill(jx, terms, reading, {(jx.id, start): 211_000}))


def test_memo_is_bounded() -> None:
    fj = CATALOG.get("fj-residential")
    for k in range(pricing._PRICED_LIMIT + 10):
        quick_bill(fj, Terms(fj.id), [ReadingUse(dt.date(2026, 11, 20), k)], {})
    assert len(pricing._PRICED) <= pricing._PRICED_LIMIT
