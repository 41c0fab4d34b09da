"""TID: minutes since the base date (UTC), rollover, KEN, and the monotonic next_tid helper."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from vouchers.sts.errors import InvalidField, KeyExpired, TidOutOfRange, UnknownBaseDate
from vouchers.sts.tid import TID_MAX, BaseDate, check_ken, next_tid, tid_at, tid_to_datetime

from .vectors import load, moment

TID = load("tid.json")
UTC = timezone.utc


@pytest.mark.parametrize("example", TID["examples"], ids=lambda e: f'{e["base_date"]}-{e["tid"]}')
def test_published_examples(example: dict[str, object]) -> None:
    base = BaseDate.from_year(example["base_date"])  # type: ignore[arg-type]
    assert tid_at(moment(example["moment"]), base) == example["tid"]  # type: ignore[arg-type]
    assert tid_to_datetime(example["tid"], base) == moment(example["moment"])  # type: ignore[arg-type]


@pytest.mark.parametrize("row", TID["last_minute"], ids=lambda r: str(r["base_date"]))
def test_rollover(row: dict[str, object]) -> None:
    base = BaseDate.from_year(row["base_date"])  # type: ignore[arg-type]
    last = moment(row["moment"])  # type: ignore[arg-type]
    assert tid_at(last, base) == TID_MAX
    assert tid_at(last + timedelta(seconds=59), base) == TID_MAX
    with pytest.raises(TidOutOfRange):
        tid_at(last + timedelta(minutes=1), base)


def test_seconds_are_dropped() -> None:
    start = datetime(2004, 3, 1, 13, 0, tzinfo=UTC)
    assert tid_at(start + timedelta(seconds=59, microseconds=999_999), BaseDate.Y1993) == 5871660


def test_time_zones_are_converted_to_utc() -> None:
    beijing = datetime(2004, 3, 1, 21, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert tid_at(beijing, BaseDate.Y1993) == 5871660


def test_naive_times_are_refused() -> None:
    with pytest.raises(TidOutOfRange, match="time zone"):
        tid_at(datetime(2004, 3, 1, 13, 0), BaseDate.Y1993)


def test_before_base_date_is_refused() -> None:
    assert tid_at(datetime(2014, 1, 1, tzinfo=UTC), BaseDate.Y2014) == 0
    with pytest.raises(TidOutOfRange):
        tid_at(datetime(2013, 12, 31, 23, 59, 59, tzinfo=UTC), BaseDate.Y2014)


def test_base_dates() -> None:
    assert [b.code for b in BaseDate] == ["93", "14", "35"]
    assert BaseDate.from_year("2014") is BaseDate.Y2014
    for bad in (1994, "93", "x", None, 2036):
        with pytest.raises(UnknownBaseDate):
            BaseDate.from_year(bad)  # type: ignore[arg-type]


# -- next_tid: max(now_minutes, last + 1) ---------------------------------------

NOW = datetime(2030, 6, 1, 12, 0, 30, tzinfo=UTC)
NOW_TID = tid_at(NOW, BaseDate.Y2014)


def test_next_tid_without_history_is_now() -> None:
    assert next_tid(NOW, None, BaseDate.Y2014) == NOW_TID


def test_next_tid_in_the_same_minute_moves_on() -> None:
    first = next_tid(NOW, None, BaseDate.Y2014)
    second = next_tid(NOW + timedelta(seconds=10), first, BaseDate.Y2014)
    third = next_tid(NOW + timedelta(seconds=20), second, BaseDate.Y2014)
    assert (first, second, third) == (NOW_TID, NOW_TID + 1, NOW_TID + 2)


def test_next_tid_after_a_gap_is_now() -> None:
    assert next_tid(NOW, NOW_TID - 100, BaseDate.Y2014) == NOW_TID


def test_next_tid_never_goes_back_when_the_clock_does() -> None:
    assert next_tid(NOW - timedelta(hours=3), NOW_TID + 5, BaseDate.Y2014) == NOW_TID + 6


def test_next_tid_refuses_past_the_last_tid() -> None:
    late = BaseDate.Y2014.start + timedelta(minutes=TID_MAX)
    assert next_tid(late, None, BaseDate.Y2014) == TID_MAX
    with pytest.raises(TidOutOfRange):
        next_tid(late, TID_MAX, BaseDate.Y2014)
    with pytest.raises(TidOutOfRange):
        next_tid(BaseDate.Y2014.start - timedelta(minutes=1), None, BaseDate.Y2014)


def test_next_tid_validates_last() -> None:
    with pytest.raises(InvalidField):
        next_tid(NOW, -1, BaseDate.Y2014)
    with pytest.raises(InvalidField):
        next_tid(NOW, TID_MAX + 1, BaseDate.Y2014)


# -- KEN ----------------------------------------------------------------------

def test_ken_allows_tids_up_to_its_high_byte() -> None:
    check_ken(0x55FFFF, 0x55)
    with pytest.raises(KeyExpired):
        check_ken(0x560000, 0x55)
    check_ken(TID_MAX, 255)


@pytest.mark.parametrize("ken", [-1, 256, True])
def test_ken_range(ken: int) -> None:
    with pytest.raises(InvalidField):
        check_ken(0, ken)
