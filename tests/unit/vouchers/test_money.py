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
