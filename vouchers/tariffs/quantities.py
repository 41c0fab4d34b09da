"""Strict conversion of kWh figures and money amounts to ``Decimal``.

Floats are refused everywhere: ``0.1`` kWh typed as a float is already wrong.
Accepted inputs are ``int``, ``Decimal`` and plain decimal strings (``"500"``,
``"100.00"``). kWh and money both have a resolution of 0.01 (a meter register
shows 0.01 kWh; money is kept to the fen), and magnitudes are capped so that
every product and sum stays exact in a 28-digit decimal context.
"""
from __future__ import annotations

import re
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation

from vouchers.tariffs.errors import InvalidAmount, InvalidQuantity, TariffError

FEN = Decimal("0.01")
CENTI_KWH = Decimal("0.01")
ONE = Decimal(1)
ZERO = Decimal(0)

MAX_KWH = Decimal(10) ** 9  # one billion kWh: far above any single account's bill
MAX_AMOUNT = Decimal(10) ** 12  # one trillion yuan

_DECIMAL_TEXT = re.compile(r"^[0-9]+(?:\.[0-9]+)?$")


def _to_decimal(value: object, name: str, error: type[TariffError]) -> Decimal:
    if isinstance(value, bool) or isinstance(value, float):
        raise error(f"{name} must be a decimal string, an int or a Decimal, not {type(value).__name__}")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise error(f"{name} must be a finite number, got {value}")
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("-") and _DECIMAL_TEXT.match(text[1:]):
            raise error(f"{name} must not be negative, got {value!r}")
        if not text.isascii() or not _DECIMAL_TEXT.match(text):
            raise error(f"{name} must be a plain decimal number such as 12.34, got {value!r}")
        try:
            return Decimal(text)
        except InvalidOperation as e:  # pragma: no cover - the regex already guards this
            raise error(f"{name} is not a number: {value!r}") from e
    raise error(f"{name} must be a decimal string, an int or a Decimal, not {type(value).__name__}")


def _hundredths(value: Decimal, name: str, unit: str, maximum: Decimal, error: type[TariffError]) -> Decimal:
    if value < 0:
        raise error(f"{name} must not be negative, got {value}")
    if value >= maximum:
        raise error(f"{name} is implausibly large: {value}")
    if value != value.quantize(CENTI_KWH, rounding=ROUND_DOWN):
        raise error(f"{name} has more than two decimals ({unit} resolution is 0.01): {value}")
    return value.copy_abs()  # never a negative zero


def normalize_kwh(value: Decimal) -> Decimal:
    """``500.00`` -> ``500``; ``12.5`` -> ``12.50``: whole kWh stay whole, others get two decimals."""
    if value == value.to_integral_value():
        return value.quantize(ONE)
    return value.quantize(CENTI_KWH)


def parse_kwh(value: object, name: str = "kWh") -> Decimal:
    """A non-negative kWh figure with at most two decimals, normalised."""
    return normalize_kwh(_hundredths(_to_decimal(value, name, InvalidQuantity), name, "kWh", MAX_KWH, InvalidQuantity))


def parse_amount(value: object, name: str = "amount") -> Decimal:
    """A non-negative money amount with at most two decimals, as ``Decimal('12.30')``."""
    d = _hundredths(_to_decimal(value, name, InvalidAmount), name, "money", MAX_AMOUNT, InvalidAmount)
    return d.quantize(FEN)


def parse_count(value: object, name: str, minimum: int, maximum: int | None = None) -> int:
    """An ``int`` (not a bool, not a float) within ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidQuantity(f"{name} must be a whole number, not {type(value).__name__}")
    if value < minimum or (maximum is not None and value > maximum):
        upper = "" if maximum is None else f" and at most {maximum}"
        raise InvalidQuantity(f"{name} must be at least {minimum}{upper}, got {value}")
    return value


def round_fen(value: Decimal) -> Decimal:
    """The one rounding of money: half-up to 0.01."""
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


def format_decimal(value: Decimal) -> str:
    """Plain positional notation, never an exponent: ``Decimal('1E+2')`` -> ``'100'``."""
    return format(value, "f")
