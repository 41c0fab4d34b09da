"""Late fees: minimum, grace days, prior-year rate, rule changes, bad input."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from vouchers.tariffs import LateFeePolicy, LateFeeRates, LateFeeSchedule, late_fee, late_fee_between, load_catalog
from vouchers.tariffs.errors import InvalidAmount, InvalidQuantity, NoVersionInForce, UnknownCustomerClass
from tests.unit.tariffs import reference as ref

D = Decimal
SCHEDULE = load_catalog().require_late_fees()
RULES = SCHEDULE.version_for(date(2024, 1, 1))


def policy(grace: int = 0, minimum: str = "1.00", start: date = date(2000, 1, 1), end: date | None = None,
           residential: str = "0.001") -> LateFeePolicy:
    return LateFeePolicy(start, end, D(minimum), grace, (
        ("other", LateFeeRates(D("0.002"), D("0.003"))),
        ("residential", LateFeeRates(D(residential), D(residential))),
    ))


def fee(p: LateFeePolicy, principal: str, days: int, cls: str = "residential", prior: bool = False) -> Decimal:
    return late_fee(p, principal=principal, days=days, customer_class=cls, prior_year=prior).fee


@pytest.mark.parametrize(("principal", "fee_", "minimum_applied"), [
    ("198.99", "1.00", True),  # 0.99495 -> 0.99: below 1 yuan, charged 1.00
    ("199.00", "1.00", False),  # 0.995 -> 1.00 half-up: not below the minimum
    ("199.99", "1.00", False),  # 0.99995 -> 1.00
    ("201.00", "1.01", False),  # 1.005 -> 1.01
])
def test_minimum_boundary(principal: str, fee_: str, minimum_applied: bool) -> None:
    result = late_fee(RULES, principal=principal, days=5, customer_class="residential")
    assert str(result.fee) == fee_ and result.minimum_applied is minimum_applied
    assert result.fee_fen == int(D(fee_) * 100)


def test_minimum_is_configuration() -> None:
    assert fee(policy(minimum="0.00"), "200.00", 4) == D("0.80")
    assert fee(policy(minimum="5.00"), "200.00", 4) == D("5.00")


def test_grace_days_are_not_charged() -> None:
    p = policy(grace=7)
    assert fee(p, "1000.00", 7) == D("0.00")  # inside the grace: nothing, not even the minimum
    one = late_fee(p, principal="500.00", days=8, customer_class="residential")
    assert one.days_charged == 1 and one.accrued == D("0.5") and one.fee == D("1.00") and one.minimum_applied
    assert fee(p, "1000.00", 30) == D("23.00")  # 23 charged days x 1.00
    assert fee(p, "1000.00", 30) == ref.late_fee_day_by_day(D("1000.00"), date(2024, 3, 1), date(2024, 3, 31),
                                                            "residential", grace_days=7)


def test_grace_days_with_dates() -> None:
    schedule = LateFeeSchedule((policy(grace=3),))
    result = late_fee_between(schedule, principal="500.00", due_date=date(2024, 3, 10), pay_date=date(2024, 3, 20),
                              customer_class="other")
    assert (result.days_overdue, result.days_charged, result.fee) == (10, 7, D("7.00"))


def test_prior_year_rate_only_differs_for_other_classes() -> None:
    assert fee(RULES, "200.00", 10, "other", prior=False) == D("4.00")
    assert fee(RULES, "200.00", 10, "other", prior=True) == D("6.00")
    assert fee(RULES, "200.00", 10, "residential", prior=True) == fee(RULES, "200.00", 10, "residential")


def test_prior_year_rate_starts_on_new_years_day() -> None:
    # due 2023-12-30: Dec 31 at 2 per mille, Jan 1 at 3 per mille
    one_each = late_fee_between(SCHEDULE, principal="1000.00", due_date=date(2023, 12, 30),
                                pay_date=date(2024, 1, 1), customer_class="other")
    assert one_each.fee == D("5.00") and one_each.accrued == D("5.00")
    only_current = late_fee_between(SCHEDULE, principal="1000.00", due_date=date(2023, 12, 30),
                                    pay_date=date(2023, 12, 31), customer_class="other")
    assert only_current.fee == D("2.00")


def test_rule_change_during_the_arrears_applies_per_day() -> None:
    schedule = LateFeeSchedule((
        policy(start=date(2000, 1, 1), end=date(2023, 12, 31), residential="0.001"),
        policy(start=date(2024, 1, 1), residential="0.002"),
    ))
    # Dec 30, 31 at 1 per mille (2.00), Jan 1, 2 at 2 per mille (4.00)
    result = late_fee_between(schedule, principal="1000.00", due_date=date(2023, 12, 29),
                              pay_date=date(2024, 1, 2), customer_class="residential")
    assert result.fee == D("6.00") and result.days_charged == 4


def test_no_rules_in_force() -> None:
    schedule = LateFeeSchedule((policy(start=date(2020, 1, 1)),))
    with pytest.raises(NoVersionInForce):
        late_fee_between(schedule, principal="10.00", due_date=date(2019, 12, 1), pay_date=date(2020, 1, 5),
                         customer_class="residential")


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"principal": "-1.00", "days": 5}, InvalidAmount),
    ({"principal": "1.001", "days": 5}, InvalidAmount),
    ({"principal": 1.5, "days": 5}, InvalidAmount),
    ({"principal": "10.00", "days": -1}, InvalidQuantity),
    ({"principal": "10.00", "days": True}, InvalidQuantity),
    ({"principal": "10.00", "days": 2.0}, InvalidQuantity),
    ({"principal": "10.00", "days": 10**6}, InvalidQuantity),
])
def test_bad_late_fee_input(kwargs: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        late_fee(RULES, customer_class="residential", **kwargs)  # type: ignore[arg-type]


def test_unknown_customer_class_names_the_known_ones() -> None:
    with pytest.raises(UnknownCustomerClass, match="other, residential"):
        late_fee(RULES, principal="10.00", days=3, customer_class="industrial")
    with pytest.raises(UnknownCustomerClass):  # even when nothing would accrue
        late_fee_between(SCHEDULE, principal="10.00", due_date=date(2024, 1, 1), pay_date=date(2024, 1, 2),
                         customer_class="industrial")
