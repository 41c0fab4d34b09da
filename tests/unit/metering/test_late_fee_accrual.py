"""The late-fee accrual against the day-by-day reference (tests/unit/tariffs/reference.py)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from vouchers.metering.late_fees import _charged_total, accrue
from vouchers.tariffs import load_catalog
from tests.unit.tariffs import reference

SCHEDULE = load_catalog().require_late_fees()
DUE = dt.date(2026, 11, 7)


def _reference_accrual(amount: int, payments: list[tuple[dt.date, int]], upto: dt.date, customer_class: str) -> Decimal:
    current, prior = reference.DAILY_RATES[customer_class]
    total = Decimal(0)
    day = DUE + dt.timedelta(days=1)
    while day <= upto:
        owed = amount - sum(p for d, p in payments if d < day)
        rate = prior if day.year > DUE.year else current
        total += Decimal(owed).scaleb(-2) * rate
        day += dt.timedelta(days=1)
    return total


@settings(max_examples=200, deadline=None)
@given(amount=st.integers(1, 5_000_000), customer_class=st.sampled_from(["residential", "other"]),
       offsets=st.lists(st.integers(0, 120), max_size=4), upto=st.integers(0, 120), split=st.integers(0, 120))
def test_accrual_matches_the_day_by_day_reference(amount: int, customer_class: str, offsets: list[int], upto: int,
                                                  split: int) -> None:
    """Accruing in two steps (e.g. month end, then payment) equals the reference walk."""
    days = sorted(offsets)
    parts = [amount // (len(days) + 1)] * len(days)
    payments = [(DUE + dt.timedelta(days=d), p) for d, p in zip(days, parts) if p]
    end = DUE + dt.timedelta(days=upto)
    middle = DUE + dt.timedelta(days=min(split, upto))
    first = accrue(SCHEDULE, amount=amount, due_date=DUE, payments=payments, after=DUE, upto=middle,
                   customer_class=customer_class)
    second = accrue(SCHEDULE, amount=amount, due_date=DUE, payments=payments, after=middle, upto=end,
                    customer_class=customer_class)
    assert first + second == _reference_accrual(amount, payments, end, customer_class)


def test_single_payment_equals_the_reference_fee() -> None:
    for amount, paid_days, cls in ((997, 1, "residential"), (68180, 55, "other"), (15299, 30, "residential")):
        pay = DUE + dt.timedelta(days=paid_days)
        accrued = accrue(SCHEDULE, amount=amount, due_date=DUE, payments=[(pay, amount)], after=DUE, upto=pay,
                         customer_class=cls)
        expected = reference.late_fee_day_by_day(Decimal(amount).scaleb(-2), DUE, pay, cls)
        assert _charged_total(SCHEDULE, accrued, pay) == int(expected * 100)


def test_minimum_and_nothing() -> None:
    assert _charged_total(SCHEDULE, Decimal(0), DUE) == 0
    assert _charged_total(SCHEDULE, Decimal("0.00001"), DUE) == 100
    assert _charged_total(SCHEDULE, Decimal("1.005"), DUE) == 101
