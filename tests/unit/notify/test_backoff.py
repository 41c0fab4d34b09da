from __future__ import annotations

import datetime as dt

import pytest

from vouchers.notify.backoff import BASE, CAP, retry_delay


def test_doubles_from_base_then_caps():
    delays = [retry_delay(n) for n in range(1, 12)]
    assert delays[:4] == [BASE, 2 * BASE, 4 * BASE, 8 * BASE]
    assert all(b >= a for a, b in zip(delays, delays[1:]))
    assert delays[-1] == CAP and max(delays) == CAP
    assert retry_delay(10_000) == CAP


def test_custom_schedule_and_bad_input():
    assert retry_delay(3, base=dt.timedelta(seconds=10), cap=dt.timedelta(seconds=25)) == dt.timedelta(seconds=25)
    assert retry_delay(2, base=dt.timedelta(seconds=10)) == dt.timedelta(seconds=20)
    with pytest.raises(ValueError):
        retry_delay(0)
