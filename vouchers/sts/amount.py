"""The 16-bit STS amount field: 2-bit base-10 exponent, 14-bit mantissa.

A field ``e:m`` stands for ``T = m * 10**e + sum(2**14 * 10**(n-1) for n in 1..e)``
transfer units, so the exponents cover 0-16383, 16384-180223 (steps of 10),
180224-1818623 (steps of 100) and 1818624-18201624 (steps of 1000). Values between
steps are rounded **up** (in the customer's favour); a mantissa that rounds up to
16384 carries into the next exponent with mantissa 0. Electricity transfer units
are 0.1 kWh. Everything is integer or ``Decimal``; floats are refused.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from vouchers.sts.errors import AmountTooLarge, InvalidAmount

MANTISSA_LIMIT = 1 << 14  # 16384
# Offset of each exponent: sum_{n=1..e} 2**14 * 10**(n-1).
OFFSETS: tuple[int, ...] = (0, 16384, 180224, 1818624)
MAX_UNITS = OFFSETS[3] + (MANTISSA_LIMIT - 1) * 1000  # 18 201 624
UNIT = Decimal("0.1")
MAX_KWH = MAX_UNITS * UNIT  # 1 820 162.4 kWh


def _check_units(units: int) -> int:
    if isinstance(units, bool) or not isinstance(units, int):
        raise InvalidAmount("transfer units are an integer")
    if units < 0:
        raise InvalidAmount("an amount cannot be negative")
    if units > MAX_UNITS:
        raise AmountTooLarge(f"the largest STS amount is {MAX_UNITS} transfer units ({MAX_KWH} kWh)")
    return units


def encode_units(units: int) -> int:
    """The 16-bit field for ``units`` transfer units, rounding up to a representable value."""
    if type(units) is int and 0 <= units < MANTISSA_LIMIT:
        return units  # exponent 0: the field is the value
    _check_units(units)
    for exponent in range(4):
        step = 10 ** exponent
        above = units - OFFSETS[exponent]
        if exponent < 3 and units >= OFFSETS[exponent + 1]:
            continue
        mantissa = max(0, -(-above // step))  # ceiling division
        if mantissa == MANTISSA_LIMIT:  # carry into the next exponent
            exponent += 1
            mantissa = 0
        return (exponent << 14) | mantissa
    raise AssertionError("unreachable")  # pragma: no cover


def decode_field(field: int) -> int:
    """Transfer units represented by a 16-bit amount field."""
    if isinstance(field, bool) or not isinstance(field, int) or not 0 <= field <= 0xFFFF:
        raise InvalidAmount("an amount field is 16 bits")
    exponent = field >> 14
    mantissa = field & (MANTISSA_LIMIT - 1)
    return mantissa * 10 ** exponent + OFFSETS[exponent]


def representable_units(units: int) -> int:
    """The transfer units a meter will actually credit for ``units`` (>= units)."""
    return decode_field(encode_units(units))


def kwh_to_units(kwh: Decimal | int | str) -> int:
    """Exact kWh (``Decimal``, int or decimal text) to whole 0.1 kWh units, rounded up.

    Floats are refused: ``Decimal(0.1)`` is not 0.1.
    """
    if isinstance(kwh, float) or isinstance(kwh, bool):
        raise InvalidAmount("amounts must be Decimal, int or decimal text, never float")
    try:
        value = kwh if isinstance(kwh, Decimal) else Decimal(kwh if isinstance(kwh, int) else str(kwh).strip())
    except (InvalidOperation, ValueError):
        raise InvalidAmount("the amount is not a decimal number") from None
    if not value.is_finite():
        raise InvalidAmount("the amount is not a finite decimal number")
    if value < 0:
        raise InvalidAmount("an amount cannot be negative")
    if value > MAX_KWH:
        raise AmountTooLarge(f"the largest STS amount is {MAX_KWH} kWh")
    # Exact integer arithmetic on the decimal digits (no context precision involved):
    # value = coefficient * 10**exponent, units = ceil(value * 10).
    _sign, digits, exponent = value.as_tuple()
    coefficient = 0
    for digit in digits:
        coefficient = coefficient * 10 + digit
    shift = exponent + 1  # type: ignore[operator]  # finite, so exponent is an int
    # The exponent is the caller's ("0E+999999999", "1E-999999999"): never raise 10 to it unbounded.
    if coefficient == 0:
        units = 0
    elif shift >= 0:  # value <= MAX_KWH bounds the shift of a non-zero coefficient
        units = coefficient * 10 ** shift
    elif -shift > len(digits):  # 0 < value * 10 < 1: one unit, rounded up
        units = 1
    else:
        units = -(-coefficient // 10 ** -shift)
    return _check_units(units)


def units_to_kwh(units: int) -> Decimal:
    """Transfer units as kWh with one decimal place, e.g. 1 -> Decimal("0.1")."""
    _check_units(units)
    return Decimal(units).scaleb(-1)
