"""Quotes and money -> kWh: API details, tariff periods, and bad input."""
from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal

import pytest

from vouchers.tariffs import BillingPeriod, kwh_for_amount, load_catalog, quote, split_into_tiers
from vouchers.tariffs.errors import (
    InvalidAmount,
    InvalidQuantity,
    OptionNotOffered,
    TariffError,
    TimeOfUseSplitError,
)

D = Decimal
CATALOG = load_catalog()
JX = CATALOG.get("jx-residential").version_for(date(2024, 5, 10))
FJ = CATALOG.get("fj-residential").version_for(date(2024, 5, 10))
FJ_SHARED = CATALOG.get("fj-shared-meter").version_for(date(2024, 5, 10))


# --- tariff periods -------------------------------------------------------------------


@pytest.mark.parametrize(("reading", "start", "end"), [
    (date(2024, 1, 31), date(2023, 2, 1), date(2024, 2, 1)),  # January closes the year begun in February
    (date(2024, 2, 1), date(2024, 2, 1), date(2025, 2, 1)),
    (date(2024, 12, 31), date(2024, 2, 1), date(2025, 2, 1)),
])
def test_jiangxi_tariff_year_follows_the_reading_date(reading: date, start: date, end: date) -> None:
    assert JX.year_start_month == 2
    period = JX.period_for(reading)
    assert period == BillingPeriod(start, end, 12)
    assert reading in period and end not in period


def test_fujian_period_is_the_reading_month() -> None:
    assert FJ.period_for(date(2024, 12, 31)) == BillingPeriod(date(2024, 12, 1), date(2025, 1, 1), 1)


def test_part_year_bounds_scale_by_months_of_supply() -> None:
    assert JX.bounds() == (D(2160), D(4200), None)
    assert JX.bounds(6) == (D(1080), D(2100), None)
    assert JX.bounds(1) == (D(180), D(350), None)
    assert FJ.bounds(1) == (D(230), D(420), None)


@pytest.mark.parametrize("months", [0, 13, -1, "6", True, 6.0])
def test_months_of_supply_out_of_range(months: object) -> None:
    with pytest.raises(InvalidQuantity, match="months of supply"):
        quote(JX, 100, months_of_supply=months)  # type: ignore[arg-type]


def test_monthly_tariff_has_one_month_of_supply() -> None:
    with pytest.raises(InvalidQuantity, match="1 to 1"):
        quote(FJ, 100, months_of_supply=2)
    assert quote(FJ, 100, months_of_supply=1).months_of_supply == 1


# --- quote ------------------------------------------------------------------------------


def test_quote_carries_what_a_bill_needs() -> None:
    q = quote(FJ, 500)
    assert (q.tariff_id, q.version_from, q.currency) == ("fj-residential", date(2016, 11, 1), "CNY")
    assert q.total == D("282.65") and q.total_fen == 28265 and q.subtotal == D("282.6500")
    assert q.months_of_supply == 1 and q.used_before == 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        q.total = D(0)  # type: ignore[misc]


def test_split_into_tiers_matches_quote_lines() -> None:
    uses = split_into_tiers(JX, 2500, used_before=2000)
    assert [(u.tier.number, u.kwh) for u in uses] == [(1, 160), (2, 2040), (3, 300)]


def test_whole_and_decimal_inputs_agree() -> None:
    assert quote(JX, "150", used_before="2100.00").lines == quote(JX, D(150), used_before=2100).lines
    assert str(quote(JX, "150.00").lines[0].kwh) == "150"


@pytest.mark.parametrize("kwh", [-1, "-1", D("-0.01"), "1.234", 1.5, True, "abc", "1e3", "", None, D("NaN"),
                                 "１２", 10**10])
def test_bad_kwh_is_refused(kwh: object) -> None:
    with pytest.raises(InvalidQuantity):
        quote(JX, kwh)  # type: ignore[arg-type]


def test_bad_used_before_is_refused() -> None:
    with pytest.raises(InvalidQuantity, match="used before"):
        quote(JX, 10, used_before=-5)


def test_negative_kwh_message_is_clear() -> None:
    with pytest.raises(InvalidQuantity) as caught:
        quote(JX, "-5")
    assert str(caught.value) == "kWh must not be negative, got '-5'"
    assert isinstance(caught.value, ValueError) and caught.value.code == "invalid_quantity"


def test_time_of_use_split_must_be_complete_and_add_up() -> None:
    with pytest.raises(TimeOfUseSplitError, match="both"):
        quote(JX, 100, peak=100)
    with pytest.raises(TimeOfUseSplitError, match="both"):
        quote(JX, 100, valley=100)
    with pytest.raises(TimeOfUseSplitError, match="must equal"):
        quote(JX, 100, peak=60, valley=30)
    with pytest.raises(InvalidQuantity, match="valley"):
        quote(JX, 100, peak=110, valley=-10)


def test_options_not_offered_by_a_flat_tariff() -> None:
    with pytest.raises(OptionNotOffered, match="time-of-use"):
        quote(FJ_SHARED, 100, peak=50, valley=50)
    with pytest.raises(OptionNotOffered, match="allowance"):
        quote(FJ_SHARED, 100, low_income=True)
    with pytest.raises(OptionNotOffered):
        kwh_for_amount(FJ_SHARED, "10.00", time_of_use=True)


def test_allowance_of_zero_consumption_is_zero() -> None:
    q = quote(JX, 0, low_income=True)
    assert q.lines == () and q.total == D("0.00") and q.allowance_kwh == 0
    r = quote(FJ, 0, low_income=True)
    assert r.allowance_refund == D("0.00") and r.allowance_refund_fen == 0


def test_refund_mode_does_not_change_the_bill() -> None:
    plain, low = quote(FJ, 300), quote(FJ, 300, low_income=True)
    assert plain.lines == low.lines and plain.total == low.total
    assert low.allowance_refund == D("7.47") and low.allowance_refund_fen == 747


# --- money -> kWh ---------------------------------------------------------------------------


@pytest.mark.parametrize("amount", [-1, "-1.00", "1.001", 1.5, D("0.001"), "1,000.00", True, "ten"])
def test_bad_amount_is_refused(amount: object) -> None:
    with pytest.raises(InvalidAmount):
        kwh_for_amount(JX, amount)  # type: ignore[arg-type]


def test_kwh_for_amount_always_has_two_decimals() -> None:
    assert str(kwh_for_amount(JX, "0.60")) == "1.00"
    assert str(kwh_for_amount(JX, 6)) == "10.00"


def test_kwh_for_amount_respects_part_year_bounds() -> None:
    # 1 month of supply: 180 kWh at 0.60 (108.00), then 170 at 0.65 (110.50), then 0.90
    assert kwh_for_amount(JX, "108.00", months_of_supply=1) == D("180.00")
    assert kwh_for_amount(JX, "218.50", months_of_supply=1) == D("350.00")
    assert kwh_for_amount(JX, "219.40", months_of_supply=1) == D("351.00")
    # the same money in a full year stays in tier 1
    assert kwh_for_amount(JX, "219.40") == D("365.66")


def test_every_tariff_error_is_one_family() -> None:
    for error in (InvalidAmount, InvalidQuantity, OptionNotOffered, TimeOfUseSplitError):
        assert issubclass(error, TariffError)


# --- mutation survivors (issue 26, docs/testing.md) -----------------------------------------------------------


def test_less_than_one_kwh_of_peak_valley_or_allowance_still_makes_its_line() -> None:
    tou = quote(JX, D("10.5"), peak=D("0.5"), valley=D("10"))
    assert [(line.tier, line.kind, line.kwh, line.amount) for line in tou.lines] == [
        ("1", "energy", D("10.5"), D("6.3")), ("peak", "time_of_use", D("0.5"), D("0.015")),
        ("valley", "time_of_use", D("10"), D("-1.2"))]
    assert (tou.kwh, tou.total) == (D("10.5"), D("5.12"))
    tou = quote(JX, D("10.5"), peak=D("10"), valley=D("0.5"))
    assert [line.tier for line in tou.lines] == ["1", "peak", "valley"]
    low = quote(JX, D("0.5"), low_income=True)
    assert [(line.tier, line.kind, line.kwh, line.amount) for line in low.lines] == [
        ("1", "energy", D("0.5"), D("0.3")), ("allowance", "allowance", D("0.5"), D("-0.3"))]
    assert (low.allowance_kwh, low.total) == (D("0.5"), D("0.00"))


def test_defaults_are_nothing_used_before_and_no_allowance() -> None:
    assert split_into_tiers(JX, 2160) == split_into_tiers(JX, 2160, used_before=0)
    assert [use.kwh for use in split_into_tiers(JX, 2161)] == [D("2160"), D("1")]
    plain = quote(JX, 100)
    assert plain == quote(JX, 100, used_before=0, low_income=False) and plain.allowance_kwh == 0
    assert [line.kind for line in plain.lines] == ["energy"]


@pytest.mark.parametrize(("call", "message"), [
    (lambda: quote(JX, "-1"), "kWh must not be negative, got '-1'"),
    (lambda: quote(JX, 1, used_before="x"), "kWh used before must be a plain decimal number such as 12.34, got 'x'"),
    (lambda: split_into_tiers(JX, "-1"), "kWh must not be negative, got '-1'"),
    (lambda: split_into_tiers(JX, 1, used_before="-2"), "kWh used before must not be negative, got '-2'"),
    (lambda: quote(JX, 2, peak="x", valley=1), "peak kWh must be a plain decimal number such as 12.34, got 'x'"),
    (lambda: quote(JX, 2, peak=1, valley="-1"), "valley kWh must not be negative, got '-1'"),
    (lambda: quote(JX, 2, peak=1), "time-of-use needs both the peak and the valley kWh"),
])
def test_each_refused_quantity_is_named(call, message) -> None:
    with pytest.raises(TariffError) as info:
        call()
    assert str(info.value) == message
