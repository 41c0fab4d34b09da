"""Token identifier (TID): whole minutes since the base date, a 24-bit field.

Base dates are 1993-01-01, 2014-01-01 and 2035-01-01 at 00:00 UTC (the current
edition of IEC 62055-41 says UTC). Seconds are dropped. Each base date lasts
0xFFFFFF minutes (until 2024-11-24 20:15, 2045-11-24 20:15 and 2066-11-24 20:15).
"""
from __future__ import annotations

import enum
from datetime import datetime, timedelta, timezone

from vouchers.sts.errors import InvalidField, KeyExpired, TidOutOfRange, UnknownBaseDate

TID_MAX = 0xFFFFFF
KEN_MAX = 0xFF


class BaseDate(enum.Enum):
    """An STS base date; ``code`` is how DKGA04 writes it ("93", "14", "35")."""

    Y1993 = 1993
    Y2014 = 2014
    Y2035 = 2035

    @property
    def year(self) -> int:
        return self.value

    @property
    def code(self) -> str:
        return f"{self.value % 100:02d}"

    @property
    def start(self) -> datetime:
        """00:00 UTC on 1 January of the base year."""
        return _STARTS[self]

    @property
    def end(self) -> datetime:
        """The last instant whose TID still fits 24 bits is just before this."""
        return self.start + timedelta(minutes=TID_MAX + 1)

    @classmethod
    def from_year(cls, year: int | str) -> BaseDate:
        """1993, 2014 or 2035 (as int or text); anything else is refused."""
        try:
            return cls(int(year))
        except (ValueError, TypeError):
            raise UnknownBaseDate("the base date must be 1993, 2014 or 2035") from None


_STARTS = {b: datetime(b.value, 1, 1, tzinfo=timezone.utc) for b in BaseDate}


def _as_utc(moment: datetime) -> datetime:
    if not isinstance(moment, datetime):
        raise TypeError("moment must be a datetime")
    if moment.tzinfo is timezone.utc:
        return moment
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise TidOutOfRange("the issue time needs a time zone (use UTC)")
    return moment.astimezone(timezone.utc)


def minutes_since(moment: datetime, base_date: BaseDate) -> int:
    """Whole minutes from the base date to ``moment`` (floor; may be negative or > 24 bits)."""
    delta = _as_utc(moment) - base_date.start
    return delta.days * 1440 + delta.seconds // 60


def tid_at(moment: datetime, base_date: BaseDate) -> int:
    """The TID of a token issued at ``moment`` (aware datetime), range-checked."""
    minutes = minutes_since(moment, base_date)
    if minutes < 0:
        raise TidOutOfRange(f"the issue time is before the {base_date.year} base date")
    if minutes > TID_MAX:
        raise TidOutOfRange(f"the {base_date.year} base date rolled over; TIDs from it no longer fit 24 bits")
    return minutes


def tid_to_datetime(tid: int, base_date: BaseDate) -> datetime:
    """The UTC minute a TID stands for."""
    check_tid(tid)
    return base_date.start + timedelta(minutes=tid)


def check_tid(tid: int) -> int:
    """Return ``tid`` if it is a 24-bit unsigned integer."""
    if isinstance(tid, bool) or not isinstance(tid, int) or not 0 <= tid <= TID_MAX:
        raise InvalidField("a TID is an integer 0..16777215")
    return tid


def next_tid(now: datetime, last: int | None, base_date: BaseDate) -> int:
    """The TID to issue now for a meter whose last token had TID ``last``.

    ``max(now_minutes, last + 1)``: TIDs for one meter strictly increase, even for
    several tokens in one minute (IEC 62055-41 §6.3.5.3) or if the clock goes back.
    """
    minutes = minutes_since(now, base_date)
    if minutes < 0:
        raise TidOutOfRange(f"the issue time is before the {base_date.year} base date")
    candidate = minutes if last is None else max(minutes, check_tid(last) + 1)
    if candidate > TID_MAX:
        raise TidOutOfRange("no TID is left under this base date")
    return candidate


def check_ken(tid: int, ken: int) -> None:
    """Refuse a TID that a meter with key expiry number ``ken`` would reject.

    The meter rejects a token whose TID's top 8 bits exceed the KEN.
    """
    if isinstance(ken, bool) or not isinstance(ken, int) or not 0 <= ken <= KEN_MAX:
        raise InvalidField("a KEN is an integer 0..255")
    if check_tid(tid) >> 16 > ken:
        raise KeyExpired("the decoder key has expired for this TID (KEN); a key change is needed")
