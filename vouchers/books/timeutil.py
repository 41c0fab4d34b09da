"""Time helpers: everything stored is UTC; business days are local (Asia/Shanghai)."""
from __future__ import annotations

import datetime as dt
import zoneinfo

DEFAULT_TZ = "Asia/Shanghai"


def utc(value: dt.datetime) -> dt.datetime:
    """``value`` in UTC; a naive datetime is refused (we never guess a zone)."""
    if not isinstance(value, dt.datetime):
        raise TypeError(f"expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime: pass an aware datetime")
    return value.astimezone(dt.timezone.utc)


def zone(name: str | dt.tzinfo | None) -> dt.tzinfo:
    if name is None:
        return zoneinfo.ZoneInfo(DEFAULT_TZ)
    if isinstance(name, dt.tzinfo):
        return name
    return zoneinfo.ZoneInfo(name)


def start_of_day(day: dt.date, tz: str | dt.tzinfo | None = None) -> dt.datetime:
    """The UTC instant at which local ``day`` begins."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=zone(tz)).astimezone(dt.timezone.utc)


def end_of_day(day: dt.date, tz: str | dt.tzinfo | None = None) -> dt.datetime:
    """The UTC instant at which local ``day`` ends (exclusive bound)."""
    return start_of_day(day + dt.timedelta(days=1), tz)


def local_date(value: dt.datetime, tz: str | dt.tzinfo | None = None) -> dt.date:
    return utc(value).astimezone(zone(tz)).date()


def from_db(value: dt.datetime | None) -> dt.datetime | None:
    """A timestamp read back from the database as aware UTC (SQLite keeps no offset)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)
