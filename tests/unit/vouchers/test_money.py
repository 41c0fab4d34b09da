from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vouchers.errors import InvalidMoney, UnknownCurrency
from vouchers.money import (
    CURRENCIES,
    SUPPORTED_CURRENCIES,
    Money,
    check_currency,
    format_amount,
    format_display,
    parse_amount,
    parse_positive_amount,
)


@pytest.mark.parametrize("text, minor", [("100.00", 10000), ("100", 10000), ("0.5", 50), ("0.05", 5), ("0", 0),
                                         ("12.34", 1234), (" 7.10 ", 710)])
def test_parse(text, minor):
    assert parse_amount(text) == minor


@pytest.mark.parametrize("bad", ["1.001", "-1.00", "+1", "1e3", "1,000.00", "", ".5", "01.00", "١٠٠", "NaN",
                                 "1.", 1.5, 100, None, True])
def test_parse_refuses(bad):
    with pytest.raises(InvalidMoney):
        parse_amount(bad)


def test_positive_refuses_zero():
    with pytest.raises(InvalidMoney):
        parse_positive_amount("0.00")


@given(st.integers(min_value=0, max_value=10**15))
def test_format_parse_round_trip(minor):
    assert parse_amount(format_amount(minor)) == minor


def test_format():
    assert format_amount(10000) == "100.00"
    assert format_amount(-5) == "-0.05"
    assert format_display(500000) == "¥5,000.00"
    with pytest.raises(InvalidMoney):
        format_amount(1.0)


def test_currency():
    assert check_currency("CNY") == "CNY"
    for bad in ["XYZ", "cny", "JPY", ""]:
        with pytest.raises(UnknownCurrency):
            check_currency(bad)
    with pytest.raises(InvalidMoney):
        Money(1.0)  # type: ignore[arg-type]
    assert str(Money.parse("1.20")) == "1.20"


def test_supported_currencies_are_exactly_those_check_currency_accepts():
    assert "CNY" in SUPPORTED_CURRENCIES and list(SUPPORTED_CURRENCIES) == sorted(SUPPORTED_CURRENCIES)
    for code in CURRENCIES:
        accepted = code in SUPPORTED_CURRENCIES
        if accepted:
            assert check_currency(code) == code
        else:
            with pytest.raises(UnknownCurrency):
                check_currency(code)


# -- mutation survivors (issue 26, docs/testing.md) ---------------------------------------------------------------

@pytest.mark.parametrize("text, minor", [("0.01", 1), ("12.50", 1250), (" 1 ", 100)])
def test_positive_accepts_the_smallest_amount_and_up(text, minor):
    assert parse_positive_amount(text) == minor


@pytest.mark.parametrize("padded", ["\u00a0100.00", "100.00\u3000", "\u2003100"])
def test_non_ascii_padding_is_refused_not_stripped(padded):
    with pytest.raises(InvalidMoney, match="invalid amount"):
        parse_amount(padded)


@pytest.mark.parametrize("minor, currency, shown", [
    (123456, "USD", "$1,234.56"), (123456, "EUR", "€1,234.56"), (123456, "GBP", "£1,234.56"),
    (123456, "HKD", "HKD 1,234.56"), (0, "CNY", "¥0.00"), (1, "CNY", "¥0.01"), (-100, "CNY", "-¥1.00"),
    (-5, "USD", "-$0.05"),
])
def test_format_display(minor, currency, shown):
    assert format_display(minor, currency) == shown


def test_to_decimal_is_exact_in_major_units():
    from decimal import Decimal

    from vouchers.money import to_decimal

    assert to_decimal(12345) == Decimal("123.45") and str(to_decimal(12345)) == "123.45"
    assert str(to_decimal(-5)) == "-0.05"


def test_money_parse_keeps_the_currency():
    assert Money.parse("1.20", "USD") == Money(120, "USD")


@pytest.mark.parametrize("call, message", [
    (lambda: parse_amount(1.5), "amount must be a decimal string, not float"),
    (lambda: parse_amount("1.001"), "invalid amount '1.001': use digits with at most two decimals, e.g. 100.00"),
    (lambda: parse_positive_amount("0.00"), "amount must be greater than zero, got '0.00'"),
    (lambda: format_amount(1.0), "minor units must be an int, not float"),
    (lambda: Money(1.0), "Money.minor must be an int of minor units"),
    (lambda: check_currency("XYZ"), "unknown or unsupported currency: 'XYZ'"),
])
def test_refusals_say_what_was_wrong(call, message):
    with pytest.raises((InvalidMoney, UnknownCurrency)) as info:
        call()
    assert str(info.value) == message
