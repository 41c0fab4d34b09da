"""Late fees (电费违约金): boundaries, the minimum charged once, prior-year rate, posting."""
from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from vouchers.books import chart
from vouchers.books.accounts import normal_balance
from vouchers.books.verify import verify
from vouchers.metering import late_fees
from vouchers.metering.errors import InvalidPeriod
from vouchers.storage.metering_models import LateFeeCharge
from vouchers.tariffs import Catalog, LateFeeSchedule
from tests.integration.metering.conftest import World, at, yuan
from tests.unit.tariffs import reference


def _settle(world: World, account: str, day: str, trigger: str = "month_end") -> late_fees.Settlement:
    with world.sessions.begin() as s:
        return late_fees.settle_account(s, account, upto=dt.date.fromisoformat(day), now=at(day, 23),
                                        catalog=world.catalog, trigger=trigger, config=world.config)


def _on_payment(world: World, account: str, day: str) -> late_fees.Settlement:
    with world.sessions.begin() as s:
        return late_fees.on_payment(s, account, now=at(day, 13), catalog=world.catalog, config=world.config)


def _income(world: World) -> int:
    with world.sessions.begin() as s:
        return normal_balance(s, late_fees.INCOME, "CNY")


def _one_bill(world: World, account: str, kwh: str, *, customer_class: str = "residential",
              mode: str = "postpaid", period: str = "2026-10", as_of: str = "2026-10-31") -> None:
    world.customer(account, customer_class=customer_class, mode=mode, opening=("2026-10-01", "0"))
    world.read(account, f"{period}-20" if period != "2026-10" else "2026-10-20", kwh)
    world.bill(period, as_of, accounts=[account])


def test_paid_on_the_due_date_costs_nothing(world: World) -> None:
    _one_bill(world, "A", "20")  # 9.97 due 2026-11-07
    world.pay("A", "9.97", "2026-11-07")
    assert _on_payment(world, "A", "2026-11-07").fee_fen == 0
    assert _settle(world, "A", "2026-11-30").fee_fen == 0
    assert _income(world) == 0


def test_one_day_late_costs_the_minimum(world: World) -> None:
    _one_bill(world, "A", "20")
    world.pay("A", "9.97", "2026-11-08")
    settled = _on_payment(world, "A", "2026-11-08")
    assert settled.fee_fen == 100  # 9.97 x 1 per mille = 0.00997 -> the 1-yuan minimum
    assert settled.bills[0].accrued == Decimal("0.00997")
    assert reference.late_fee_day_by_day(Decimal("9.97"), dt.date(2026, 11, 7), dt.date(2026, 11, 8),
                                         "residential") == Decimal("1.00")
    assert _settle(world, "A", "2026-11-30").fee_fen == 0  # closed: nothing more, the minimum not again
    assert _income(world) == 100


def test_grace_days(world: World) -> None:
    policy = world.catalog.require_late_fees().versions[0]
    world.catalog = Catalog(world.catalog.tariffs,
                            LateFeeSchedule((dataclasses.replace(policy, grace_days=3),), "grace", ""))
    _one_bill(world, "A", "20")
    world.customer("B", opening=("2026-10-01", "0"))
    world.read("B", "2026-10-20", "20")
    world.bill("2026-10", "2026-10-31", accounts=["B"])
    world.pay("A", "9.97", "2026-11-10")  # 3 days after the due date: inside the grace
    world.pay("B", "9.97", "2026-11-11")  # 4 days: one day charged
    assert _settle(world, "A", "2026-11-30").fee_fen == 0
    b = _settle(world, "B", "2026-11-30")
    assert (b.fee_fen, b.bills[0].accrued) == (100, Decimal("0.00997"))


def test_month_end_then_payment_charges_the_total_once(world: World) -> None:
    _one_bill(world, "P", "300")  # 152.99 due 2026-11-07
    world.pay("P", "50.00", "2026-11-10")
    month_end = _settle(world, "P", "2026-11-30")
    # 3 days x 152.99 + 20 days x 102.99, at 1 per mille
    assert month_end.bills[0].accrued == Decimal(3) * Decimal("0.15299") + 20 * Decimal("0.10299")
    assert month_end.fee_fen == yuan("2.52")
    assert _settle(world, "P", "2026-11-30").fee_fen == 0  # idempotent
    world.pay("P", "200.00", "2026-12-05")
    at_payment = _on_payment(world, "P", "2026-12-05")
    assert at_payment.bills[0].accrued == 5 * Decimal("0.10299")
    assert at_payment.fee_fen == yuan("3.03") - yuan("2.52")  # total accrual 3.03372 -> 3.03
    assert _settle(world, "P", "2026-12-31").fee_fen == 0
    summary = world.summary("P")
    assert summary.arrears == 0 and summary.balance == 20000 + 5000 - 15299 - 252 - 51
    assert _income(world) == yuan("3.03")
    with world.sessions.begin() as s:
        charges = s.execute(select(LateFeeCharge.trigger, LateFeeCharge.fee_fen).order_by(LateFeeCharge.id)).all()
        assert charges == [("month_end", 252), ("payment", 51)]
        assert verify(s, today=dt.date(2030, 1, 1)).ok


def test_other_class_prior_year_rate(world: World) -> None:
    _one_bill(world, "O", "1000", customer_class="other", period="2026-11", as_of="2026-11-30")
    # 681.80 due 2026-12-07; 24 days in December at 2 per mille, then 3 per mille from 1 January
    december = _settle(world, "O", "2026-12-31")
    assert december.bills[0].accrued == 24 * Decimal("681.80") * Decimal("0.002")
    assert december.fee_fen == yuan("32.73")
    january = _settle(world, "O", "2027-01-31")
    assert january.bills[0].accrued == 31 * Decimal("681.80") * Decimal("0.003")
    expected_total = reference.late_fee_day_by_day(Decimal("681.80"), dt.date(2026, 12, 7), dt.date(2027, 1, 31),
                                                   "other")
    assert yuan(str(expected_total)) == december.fee_fen + january.fee_fen == yuan("96.13")


def test_penalty_is_a_bill_paid_after_the_arrears(world: World) -> None:
    _one_bill(world, "P", "300")
    _settle(world, "P", "2026-11-30")  # 23 overdue days (11-08 .. 11-30) on 152.99
    summary = world.summary("P")
    refs = [b.bill_ref for b in summary.open_bills]
    assert refs[0] == "elec-2026-10" and refs[1].startswith("latefee-2026-11-30")
    penalty = summary.open_bills[1].amount
    assert penalty == yuan("3.52")  # 23 days x 0.15299 = 3.51877
    world.pay("P", "152.99", "2026-12-01")  # pays the electricity bill first (oldest due)
    summary = world.summary("P")
    assert [(b.bill_ref, b.outstanding) for b in summary.open_bills] == [(refs[1], penalty)]


def test_prepaid_accounts_get_no_late_fee(world: World) -> None:
    _one_bill(world, "Q", "300", mode="prepaid")
    assert _settle(world, "Q", "2027-01-31").fee_fen == 0
    with world.sessions.begin() as s:
        assert late_fees.month_end_candidates(s, dt.date(2027, 1, 31)) == []


def test_month_end_run_over_all_accounts(world: World) -> None:
    for name in ("A", "B", "C"):
        _one_bill(world, name, "300")
    world.pay("B", "152.99", "2026-11-07")
    result = late_fees.run_month_end(world.sessions, "2026-11", now=at("2026-12-01", 1), catalog=world.catalog,
                                     config=world.config, batch=2)
    assert (result.accounts, result.charged_accounts, result.total_fen) == (3, 2, 2 * yuan("3.52"))
    again = late_fees.run_month_end(world.sessions, "2026-11", now=at("2026-12-01", 2), catalog=world.catalog,
                                    config=world.config)
    assert again.total_fen == 0
    assert _income(world) == 2 * yuan("3.52")
    with world.sessions.begin() as s:
        assert s.execute(select(func.count()).select_from(LateFeeCharge)).scalar_one() == 2


@pytest.mark.parametrize("month,now", [("2026-11", at("2026-11-30", 23)), ("2026-11", at("2026-11-27")),
                                       ("2099-01", at("2026-11-27"))])
def test_month_end_run_refuses_a_month_not_over(world: World, month: str, now: dt.datetime) -> None:
    """Days that have not happened yet are never charged: the month must have ended in the business time zone."""
    _one_bill(world, "A", "300")
    with pytest.raises(InvalidPeriod, match=f"month {month} has not ended yet"):
        late_fees.run_month_end(world.sessions, month, now=now, catalog=world.catalog, config=world.config)
    assert _income(world) == 0
    # 00:30 on the 1st in Beijing is still the 30th in UTC: the month has ended
    late_fees.run_month_end(world.sessions, "2026-11", now=dt.datetime(2026, 11, 30, 16, 30, tzinfo=dt.UTC),
                            catalog=world.catalog, config=world.config)
    assert _income(world) == yuan("3.52")


@pytest.mark.parametrize("payments,expected", [
    ([], Decimal(0)),
    ([(dt.date(2026, 11, 7), 1000)], Decimal(0)),
])
def test_accrue_nothing_before_or_on_the_due_date(world: World, payments: list, expected: Decimal) -> None:
    schedule = world.catalog.require_late_fees()
    assert late_fees.accrue(schedule, amount=1000, due_date=dt.date(2026, 11, 7), payments=payments,
                            after=dt.date(2026, 11, 1), upto=dt.date(2026, 11, 7),
                            customer_class="residential") == expected
    assert chart.validate(late_fees.INCOME) == "income:late_fee"
