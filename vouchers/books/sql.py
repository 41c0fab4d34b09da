"""Small dialect helpers shared by the services (PostgreSQL and SQLite)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def is_postgres(session: Session) -> bool:
    return dialect(session) == "postgresql"


def insert_ignoring_conflicts(session: Session, table: Table | Any, *index_elements: str):
    """``INSERT ... ON CONFLICT (cols) DO NOTHING`` for this session's dialect."""
    if is_postgres(session):
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=list(index_elements) or None)
    return sqlite.insert(table).on_conflict_do_nothing(index_elements=list(index_elements) or None)


def db_time(session: Session, value):  # type: ignore[no-untyped-def]
    """A UTC datetime as a raw-SQL parameter: as is on PostgreSQL, SQLAlchemy's text form on SQLite."""
    import datetime as dt

    utc_value = value.astimezone(dt.timezone.utc)
    if is_postgres(session):
        return utc_value
    return utc_value.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
