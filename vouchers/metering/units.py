"""kWh as integer hundredths (centi-kWh) in the database, ``Decimal`` at the edges.

A meter register shows 0.01 kWh, so every kWh figure we store is a whole
number of hundredths: exact on SQLite and PostgreSQL, and cheap to sum.
Money stays integer fen (:mod:`vouchers.money`).
"""
from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

from vouchers.metering.errors import InvalidReading

CENTI = Decimal("0.01")
MAX_REGISTER_CKWH = 10**11  # a register below one billion kWh
_DECIMAL = re.compile(r"^[0-9]{1,12}(?:\.[0-9]{1,2})?$")


def to_kwh(ckwh: int) -> Decimal:
    """Hundredths -> kWh: ``50000 -> Decimal('500')``, ``1234 -> Decimal('12.34')``."""
    if ckwh % 100 == 0:
        return Decimal(ckwh // 100)
    return Decimal(ckwh).scaleb(-2)


def from_kwh(kwh: Decimal | int) -> int:
    """kWh (at most two decimals) -> hundredths; anything finer is an error."""
    if isinstance(kwh, bool) or not isinstance(kwh, (int, Decimal)):
        raise InvalidReading(f"kWh must be an int or a Decimal, not {type(kwh).__name__}")
    value = Decimal(kwh) * 100
    if value != value.to_integral_value():
        raise InvalidReading(f"kWh has more than two decimals: {kwh}")
    return int(value)


def parse_register(text: str, name: str = "reading") -> int:
    """A register value such as ``"12345.67"`` -> hundredths. Refuses negatives,
    more than two decimals, exponents, signs and floats."""
    if not isinstance(text, str):
        raise InvalidReading(f"{name} must be text, not {type(text).__name__}")
    value = text.strip()
    if value.startswith("-"):
        raise InvalidReading(f"{name} must not be negative, got {value!r}")
    if not value.isascii() or not _DECIMAL.match(value):
        raise InvalidReading(f"{name} must be a number with at most two decimals, such as 1234.56, got {value!r}")
    whole, _, frac = value.partition(".")
    ckwh = int(whole) * 100 + int(frac.ljust(2, "0"))
    if ckwh >= MAX_REGISTER_CKWH:
        raise InvalidReading(f"{name} is implausibly large: {value}")
    return ckwh


def format_kwh(ckwh: int | None) -> str | None:
    """Hundredths -> ``"12.34"`` (always two decimals); None stays None."""
    if ckwh is None:
        return None
    sign = "-" if ckwh < 0 else ""
    whole, frac = divmod(abs(ckwh), 100)
    return f"{sign}{whole}.{frac:02d}"


def fen_of(yuan: Decimal) -> int:
    """An amount already rounded to the fen -> integer fen (refuses anything finer)."""
    value = yuan.scaleb(2)
    if value != value.to_integral_value():
        raise ValueError(f"{yuan} is not a whole number of fen")
    return int(value)


def round_half_up_fen(yuan: Decimal) -> int:
    """The one rounding of money: half-up to the fen, as integer fen."""
    return int(yuan.quantize(CENTI, rounding=ROUND_HALF_UP).scaleb(2))


def percent_1dp(numerator: int, denominator: int) -> Decimal | None:
    """``numerator / denominator`` as a percentage to one decimal, half-up; None when nothing is due."""
    if denominator <= 0:
        return None
    return (Decimal(numerator) * 100 / Decimal(denominator)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
