"""The allocation rule: arrears first, oldest bill first, the rest prepaid."""
from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vouchers.books.allocation import OpenBill, allocate, allocate_many
from vouchers.books.errors import InvalidPayment

D = dt.date


def test_oldest_due_date_first_then_issue_order():
    bills = [OpenBill(3, D(2026, 3, 1), 500), OpenBill(1, D(2026, 5, 1), 500), OpenBill(2, D(2026, 3, 1), 500)]
    allocation = allocate(1200, bills)
    assert allocation.to_bills == ((2, 500), (3, 500), (1, 200))
    assert (allocation.to_arrears, allocation.to_prepaid) == (1200, 0)


def test_the_rest_goes_to_prepaid():
    allocation = allocate(1000, [OpenBill(1, D(2026, 1, 1), 300)])
    assert (allocation.to_bills, allocation.to_arrears, allocation.to_prepaid) == (((1, 300),), 300, 700)


def test_no_bills_all_prepaid():
    assert allocate(1, []).to_prepaid == 1


@pytest.mark.parametrize("amount", [0, -1, 1.0, True, "100"])
def test_amount_must_be_positive_minor_units(amount):
    with pytest.raises(InvalidPayment):
        allocate(amount, [])  # type: ignore[arg-type]


def test_successive_payments_see_what_the_previous_left():
    bills = [OpenBill(1, D(2026, 1, 1), 300), OpenBill(2, D(2026, 2, 1), 300)]
    first, second = allocate_many([400, 400], bills)
    assert first.to_bills == ((1, 300), (2, 100))
    assert second.to_bills == ((2, 200),) and second.to_prepaid == 200


bills_strategy = st.lists(
    st.builds(OpenBill, st.integers(1, 10_000), st.dates(D(2020, 1, 1), D(2030, 1, 1)), st.integers(0, 10**7)),
    unique_by=lambda b: b.bill_id, max_size=12)


@given(st.integers(1, 10**8), bills_strategy)
def test_money_is_conserved_and_no_bill_is_overpaid(amount, bills):
    allocation = allocate(amount, bills)
    owed = {b.bill_id: b.outstanding for b in bills}
    assert allocation.to_arrears + allocation.to_prepaid == amount
    assert all(0 < part <= owed[bill_id] for bill_id, part in allocation.to_bills)
    assert allocation.to_arrears == min(amount, sum(owed.values()))


@given(st.integers(1, 10**8), bills_strategy)
def test_a_younger_bill_is_touched_only_when_every_older_one_is_paid(amount, bills):
    allocation = allocate(amount, bills)
    paid = dict(allocation.to_bills)
    order = sorted((b for b in bills if b.outstanding), key=lambda b: (b.due_date, b.bill_id))
    for i, bill in enumerate(order):
        if paid.get(bill.bill_id):
            assert all(paid.get(older.bill_id) == older.outstanding for older in order[:i])


def test_a_part_paid_bill_keeps_its_due_date_and_its_place_for_the_next_payment():
    # mutation survivor (issue 26): the next payment must still see the older bill first, part-paid or not
    bills = [OpenBill(2, dt.date(2026, 10, 25), 2000), OpenBill(1, dt.date(2026, 9, 25), 3000)]
    first, second, third = allocate_many([1000, 1500, 1000], bills)
    assert (first.to_bills, second.to_bills, third.to_bills) == (((1, 1000),), ((1, 1500),), ((1, 500), (2, 500)))


@pytest.mark.parametrize("amount", [0, -1, 1.0, True])
def test_allocate_refuses_what_is_not_a_positive_amount_of_minor_units(amount):
    with pytest.raises(InvalidPayment) as info:
        allocate(amount, [])
    assert str(info.value) == "amount must be a positive integer of minor units"
