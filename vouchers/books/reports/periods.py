"""Local calendar buckets (day, month) for reports, on PostgreSQL and SQLite."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, literal_column
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from vouchers.books.sql import is_postgres
from vouchers.books.timeutil import zone

GRANULARITIES = ("day", "month")


def local_bucket(session: Session, column, tz: str, granularity: str, at: dt.datetime) -> ColumnElement[str]:
    """SQL text ``YYYY-MM-DD`` / ``YYYY-MM`` of ``column`` in local time ``tz``.

    SQLite has no time zones: it uses the zone's UTC offset at ``at`` (exact
    for zones without daylight saving, such as Asia/Shanghai).
    """
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}")
    if is_postgres(session):
        fmt = "YYYY-MM-DD" if granularity == "day" else "YYYY-MM"
        return func.to_char(func.timezone(tz, column), fmt)
    offset = zone(tz).utcoffset(at.replace(tzinfo=None)) or dt.timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    fmt = "%Y-%m-%d" if granularity == "day" else "%Y-%m"
    return func.strftime(fmt, column, literal_column(f"'{minutes:+d} minutes'"))
