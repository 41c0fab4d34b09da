"""Money as integer minor units; decimal strings only at the edges."""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from vouchers.errors import InvalidMoney, UnknownCurrency

# ISO 4217 currencies we accept, with their number of minor-unit digits.
# Deliberately a short list of 2-decimal currencies: every format in the
# contract ("100.00") assumes two decimals.
CURRENCIES: dict[str, int] = {
    "CNY": 2, "HKD": 2, "MOP": 2, "TWD": 2, "USD": 2, "EUR": 2, "GBP": 2,
    "SGD": 2, "MYR": 2, "THB": 2, "PHP": 2, "INR": 2, "ZAR": 2, "KES": 2,
    "NGN": 2, "GHS": 2, "TZS": 2, "UGX": 0, "RWF": 0, "XOF": 0, "XAF": 0,
    "ETB": 2, "ZMW": 2, "BWP": 2, "NAD": 2, "MZN": 2, "PKR": 2, "BDT": 2,
    "LKR": 2, "NPR": 2, "IDR": 2, "VND": 0, "JPY": 0, "KRW": 0,
}
# the codes check_currency accepts (a choice list for the command line)
SUPPORTED_CURRENCIES: tuple[str, ...] = tuple(sorted(c for c, digits in CURRENCIES.items() if digits == 2))
_AMOUNT = re.compile(r"^(?P<int>0|[1-9][0-9]{0,14})(?:\.(?P<frac>[0-9]{1,2}))?$")


def check_currency(currency: str) -> str:
    """Return the currency code if it is one we handle with two decimals."""
    if not isinstance(currency, str) or CURRENCIES.get(currency) != 2:
        raise UnknownCurrency(f"unknown or unsupported currency: {currency!r}")
    return currency


def parse_amount(text: str) -> int:
    """Parse a non-negative decimal string such as ``"100.00"`` into minor units.

    Floats are refused outright, as are more than two decimals, signs,
    exponents, thousands separators and non-ASCII digits.
    """
    if isinstance(text, bool) or not isinstance(text, str):
        raise InvalidMoney(f"amount must be a decimal string, not {type(text).__name__}")
    match = _AMOUNT.match(text.strip()) if text.isascii() else None
    if match is None:
        raise InvalidMoney(f"invalid amount {text!r}: use digits with at most two decimals, e.g. 100.00")
    frac = (match["frac"] or "").ljust(2, "0")
    return int(match["int"]) * 100 + int(frac)


def parse_positive_amount(text: str) -> int:
    minor = parse_amount(text)
    if minor <= 0:
        raise InvalidMoney(f"amount must be greater than zero, got {text!r}")
    return minor


def format_amount(minor: int) -> str:
    """Format minor units as a plain decimal string: ``10000 -> "100.00"``."""
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise InvalidMoney(f"minor units must be an int, not {type(minor).__name__}")
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 100)
    return f"{sign}{whole}.{frac:02d}"


def format_display(minor: int, currency: str = "CNY") -> str:
    """Human display with grouping: ``500000 -> "¥5,000.00"``."""
    symbol = {"CNY": "¥", "USD": "$", "EUR": "€", "GBP": "£"}.get(currency, currency + " ")
    whole, frac = divmod(abs(minor), 100)
    return f"{'-' if minor < 0 else ''}{symbol}{whole:,}.{frac:02d}"


def to_decimal(minor: int) -> Decimal:
    return Decimal(minor).scaleb(-2)


@dataclass(frozen=True, slots=True)
class Money:
    minor: int
    currency: str = "CNY"

    def __post_init__(self) -> None:
        if isinstance(self.minor, bool) or not isinstance(self.minor, int):
            raise InvalidMoney("Money.minor must be an int of minor units")
        check_currency(self.currency)

    @classmethod
    def parse(cls, text: str, currency: str = "CNY") -> Money:
        return cls(parse_amount(text), currency)

    def __str__(self) -> str:
        return format_amount(self.minor)
