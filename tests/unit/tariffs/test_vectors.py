"""Hand-derived vectors (tests/vectors/tariffs/*.toml) against the implementation,
each vector re-derived independently by tests/unit/tariffs/reference.py."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from vouchers.tariffs import kwh_for_amount, late_fee, late_fee_between, load_catalog, quote
from tests.unit.tariffs import reference as ref

D = Decimal
QUOTES = ref.load_vectors("quotes.toml")
KWH = ref.load_vectors("kwh.toml")
LATE_DAYS = ref.load_vectors("late_fees.toml", "days")
LATE_DATES = ref.load_vectors("late_fees.toml", "dates")
CATALOG = load_catalog()


def _opt(v: dict[str, Any], key: str) -> Decimal | None:
    return D(v[key]) if key in v else None


def test_enough_vectors() -> None:
    # The brief: the worked bill plus at least 20 more, covering every feature.
    assert len(QUOTES) >= 21
    ids = {v["id"] for v in QUOTES}
    assert "E1-fj-500" in ids
    assert any("used_before" in v and v["tariff"] == "jx-residential" for v in QUOTES)
    assert any("months" in v for v in QUOTES)
    assert any("peak" in v for v in QUOTES)
    assert any(v.get("low_income") for v in QUOTES)
    assert {v["date"] for v in QUOTES if v["tariff"] == "fj-residential"} >= {"2016-10-31", "2016-11-01"}


@pytest.mark.parametrize("v", QUOTES, ids=[v["id"] for v in QUOTES])
def test_quote_vector(v: dict[str, Any]) -> None:
    reading = date.fromisoformat(v["date"])
    version = CATALOG.get(v["tariff"]).version_for(reading)
    q = quote(version, v["kwh"], used_before=v.get("used_before", "0"), months_of_supply=v.get("months"),
              peak=v.get("peak"), valley=v.get("valley"), low_income=v.get("low_income", False))

    got = [[line.tier, str(line.kwh), str(line.price), str(line.amount)] for line in q.lines]
    assert got == v["lines"]
    assert str(q.total) == v["total"]
    assert str(q.allowance_refund) == v.get("allowance_refund", "0.00")
    assert sum(line.kwh for line in q.energy_lines) == D(v["kwh"])


@pytest.mark.parametrize("v", QUOTES, ids=[v["id"] for v in QUOTES])
def test_quote_vector_is_independently_right(v: dict[str, Any]) -> None:
    """The vector itself, re-derived from the published figures two other ways."""
    p = ref.published(v["tariff"], date.fromisoformat(v["date"]))
    kwh, used = D(v["kwh"]), D(v.get("used_before", "0"))
    months = v.get("months")
    total, refund = ref.bill(p, kwh, used, months, _opt(v, "peak"), _opt(v, "valley"), v.get("low_income", False))
    assert total == D(v["total"])
    assert refund == D(v.get("allowance_refund", "0.00"))

    energy = sum((D(line[3]) for line in v["lines"] if line[0].isdigit()), D(0))
    assert energy == ref.energy_incremental(p, kwh, used, months)
    assert energy == ref.energy_unit_by_unit(p, kwh, used, months)
    for tier, line_kwh, price, amount in v["lines"]:
        assert D(line_kwh) * D(price) == D(amount), f"line {tier} of {v['id']}"
        if tier.isdigit():
            assert D(price) == p.prices[int(tier) - 1]


@pytest.mark.parametrize("v", KWH, ids=[v["id"] for v in KWH])
def test_kwh_vector(v: dict[str, Any]) -> None:
    version = CATALOG.get(v["tariff"]).version_for(date.fromisoformat(v["date"]))
    got = kwh_for_amount(version, v["amount"], used_before=v.get("used_before", "0"),
                         months_of_supply=v.get("months"), time_of_use=v.get("time_of_use", False))
    assert str(got) == v["kwh"]


@pytest.mark.parametrize("v", KWH, ids=[v["id"] for v in KWH])
def test_kwh_vector_is_independently_right(v: dict[str, Any]) -> None:
    """x is affordable and x + 0.01 kWh is not, by the reference cost."""
    p = ref.published(v["tariff"], date.fromisoformat(v["date"]))
    amount, x, used = D(v["amount"]), D(v["kwh"]), D(v.get("used_before", "0"))
    peak = v.get("time_of_use", False)
    assert ref.exact_cost(p, x, used, v.get("months"), peak) <= amount
    assert ref.exact_cost(p, x + D("0.01"), used, v.get("months"), peak) > amount


@pytest.mark.parametrize("v", LATE_DAYS, ids=[v["id"] for v in LATE_DAYS])
def test_late_fee_days_vector(v: dict[str, Any]) -> None:
    policy = CATALOG.require_late_fees().version_for(date(2024, 1, 1))
    result = late_fee(policy, principal=v["principal"], days=v["days"], customer_class=v["customer_class"],
                      prior_year=v.get("prior_year", False))
    assert str(result.fee) == v["fee"]
    assert result.minimum_applied is v["minimum_applied"]
    # independently: the same days laid out on a calendar, summed day by day
    # (arrears_year far ahead: the flag alone decides current/prior year here)
    due = date(2023, 3, 1)
    expected = ref.late_fee_day_by_day(D(v["principal"]), due, date.fromordinal(due.toordinal() + v["days"]),
                                       v["customer_class"], arrears_year=9999,
                                       all_prior_year=v.get("prior_year", False))
    assert expected == D(v["fee"])


@pytest.mark.parametrize("v", LATE_DATES, ids=[v["id"] for v in LATE_DATES])
def test_late_fee_dates_vector(v: dict[str, Any]) -> None:
    due, paid = date.fromisoformat(v["due"]), date.fromisoformat(v["paid"])
    result = late_fee_between(CATALOG.require_late_fees(), principal=v["principal"], due_date=due, pay_date=paid,
                              customer_class=v["customer_class"], arrears_year=v.get("arrears_year"))
    assert str(result.fee) == v["fee"]
    expected = ref.late_fee_day_by_day(D(v["principal"]), due, paid, v["customer_class"], v.get("arrears_year"))
    assert expected == D(v["fee"])
