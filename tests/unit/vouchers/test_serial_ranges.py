"""A range given as first serial + count (the console's activation and consignment forms)."""
from __future__ import annotations

import pytest

from vouchers.errors import InvalidSerial
from vouchers.serials import MAX_SEQUENCE, Serial, range_last


def test_the_last_serial_of_a_range_carries_its_own_check_digit():
    first = Serial(1, 42, 9)
    assert range_last(str(first), 1) == str(first)
    assert range_last(str(first), 3) == str(Serial(1, 42, 11))
    assert Serial.parse(range_last(str(first), 1000)).sequence == 1008


@pytest.mark.parametrize("first, count", [
    (str(Serial(1, 42, 9)), 0), (str(Serial(1, 42, 9)), -2), (str(Serial(1, 42, 9)), True),
    (str(Serial(1, 42, MAX_SEQUENCE)), 2), ("0100004200000091", 1), ("not a serial", 1)])
def test_a_bad_first_serial_or_count_is_refused(first, count):
    with pytest.raises(InvalidSerial):
        range_last(first, count)
