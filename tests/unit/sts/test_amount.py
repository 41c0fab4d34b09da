"""Amount encoding at every exponent boundary, rounding up, carry, and the maximum."""
from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vouchers.sts.amount import MAX_KWH, MAX_UNITS, decode_field, encode_units, kwh_to_units, representable_units, units_to_kwh
from vouchers.sts.errors import AmountTooLarge, InvalidAmount

from .vectors import load

AMOUNTS = load("amount_boundaries.json")


@pytest.mark.parametrize("row", AMOUNTS["encodable"], ids=lambda r: r["kwh"])
def test_boundary_rows(row: dict[str, object]) -> None:
    units = kwh_to_units(row["kwh"])  # type: ignore[arg-type]
    assert units == row["units"]
    assert encode_units(units) == int(row["field"], 16)  # type: ignore[arg-type]
    assert decode_field(int(row["field"], 16)) == row["credited_units"]  # type: ignore[arg-type]


@pytest.mark.parametrize("row", AMOUNTS["refused"], ids=lambda r: r["kwh"])
def test_refused_rows(row: dict[str, str]) -> None:
    with pytest.raises(InvalidAmount) as caught:
        kwh_to_units(row["kwh"])
    assert caught.value.code == row["error"]


def test_maximum_and_one_above() -> None:
    assert MAX_UNITS == 18_201_624
    assert encode_units(MAX_UNITS) == 0xFFFF
    with pytest.raises(AmountTooLarge):
        encode_units(MAX_UNITS + 1)


def test_decimal_and_int_inputs() -> None:
    assert kwh_to_units(Decimal("25.6")) == 256
    assert kwh_to_units(3) == 30
    assert kwh_to_units(" 0.10 ") == 1


def test_floats_are_refused() -> None:
    with pytest.raises(InvalidAmount, match="float"):
        kwh_to_units(0.1)  # type: ignore[arg-type]
    with pytest.raises(InvalidAmount):
        encode_units(1.0)  # type: ignore[arg-type]
    with pytest.raises(InvalidAmount):
        encode_units(True)  # type: ignore[arg-type]


def test_units_to_kwh() -> None:
    assert units_to_kwh(1) == Decimal("0.1")
    assert str(units_to_kwh(18201624)) == "1820162.4"
    assert str(units_to_kwh(0)) == "0.0"


@pytest.mark.parametrize("field", [-1, 0x10000])
def test_decode_field_range(field: int) -> None:
    with pytest.raises(InvalidAmount):
        decode_field(field)


@given(st.integers(min_value=0, max_value=MAX_UNITS))
def test_credited_is_never_less_and_is_the_nearest_step(units: int) -> None:
    field = encode_units(units)
    credited = decode_field(field)
    assert credited >= units
    # The step of the exponent used; rounding never gives away a whole step.
    exponent = field >> 14
    assert credited - units < 10 ** exponent
    # No smaller field value represents an amount >= units (the encoding is minimal).
    if field:
        assert decode_field(field - 1) < units or (field & 0x3FFF) == 0


@given(st.integers(min_value=0, max_value=0xFFFF))
def test_every_field_round_trips(field: int) -> None:
    units = decode_field(field)
    assert representable_units(units) == units
    # Fields 0x4000, 0x8000, 0xC000 have the same value as their predecessor's carry.
    assert decode_field(encode_units(units)) == units


def test_long_decimals_round_up_exactly() -> None:
    # More significant digits than Decimal's default context precision (28).
    assert kwh_to_units("0.10000000000000000000000000000001") == 2
    assert kwh_to_units("1820162.39999999999999999999999999999") == MAX_UNITS
    assert kwh_to_units("1E-40") == 1
    assert kwh_to_units("1E+2") == 1000


@given(st.decimals(min_value=0, max_value=MAX_KWH, allow_nan=False, allow_infinity=False, places=None))
def test_kwh_to_units_is_the_exact_ceiling(kwh: Decimal) -> None:
    from fractions import Fraction
    from math import ceil

    assert kwh_to_units(kwh) == ceil(Fraction(kwh) * 10)
    assert kwh_to_units(str(kwh)) == kwh_to_units(kwh)


def test_a_huge_exponent_is_computed_without_raising_ten_to_it() -> None:
    """'0E+999999999' or '1E-999999999' from a caller used to make 10 ** (10**9) (minutes of CPU, unbounded
    memory); the value decides, not the exponent as written. Guarded by an alarm so a regression fails fast."""
    import signal

    def too_slow(*_: object) -> None:
        raise AssertionError("kwh_to_units raised 10 to the written exponent")

    previous = signal.signal(signal.SIGALRM, too_slow)
    signal.alarm(10)
    try:
        assert kwh_to_units("0E+999999999") == kwh_to_units("0E-999999999") == 0
        assert kwh_to_units("1E-999999999") == kwh_to_units("1E-1000000") == kwh_to_units("0.01") == 1
        assert kwh_to_units("12.3400000E-0") == 124 and kwh_to_units("1.2E+1") == 120
        with pytest.raises(AmountTooLarge):
            kwh_to_units("1E+999999999")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
