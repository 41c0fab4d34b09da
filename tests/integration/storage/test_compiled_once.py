"""Statements of the redemption's hot path that SQLAlchemy cannot cache are not compiled per request (issue 24).

A redemption takes one savepoint and counts one throttled attempt. SQLAlchemy builds and compiles a fresh
SAVEPOINT clause every time (its name changes) and cannot cache the throttle's multi-row VALUES: on
PostgreSQL both now run as SQL compiled once (``context`` is None or has no compiled statement), with the
same effects on both databases.
"""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from sqlalchemy import event, insert, select

from vouchers.services.throttle import Limit, ThrottleLimits, build
from vouchers.storage.api_models import ThrottleCounter

T = ThrottleCounter.__table__
NOW = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.timezone.utc)


def _seen(engine) -> list[tuple[str, bool]]:
    """(statement, compiled by SQLAlchemy for this execution?) for every statement run on ``engine``."""
    seen: list[tuple[str, bool]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def record(conn, cursor, statement, params, context, executemany) -> None:  # type: ignore[no-untyped-def]
        seen.append((" ".join(statement.split()), context is not None and context.compiled is not None))

    return seen


def _row(key: str) -> dict:
    return {"key": key, "window_start": NOW, "failures": 1, "updated_at": NOW}


def test_savepoints_keep_their_effect_and_are_plain_sql_on_postgresql(engine, sessions):
    seen = _seen(engine)
    with sessions() as session, session.begin():
        nested = session.begin_nested()
        session.execute(insert(T), [_row("undone")])
        nested.rollback()
        with session.begin_nested():
            session.execute(insert(T), [_row("kept")])
    with sessions() as session:
        assert session.execute(select(T.c.key)).scalars().all() == ["kept"]
    savepoints = [(sql, compiled) for sql, compiled in seen if "SAVEPOINT" in sql]
    if engine.dialect.name == "postgresql":
        assert [sql.split()[0] for sql, _ in savepoints] == ["SAVEPOINT", "ROLLBACK", "SAVEPOINT", "RELEASE"]
        assert not any(compiled for _, compiled in savepoints), savepoints


def test_throttle_counts_with_a_statement_compiled_once_on_postgresql(engine, sessions):
    throttle = build(SimpleNamespace(redis_url=None, env={}), ThrottleLimits(), engine)
    counting = getattr(throttle, "autocommit", None) or engine
    seen = _seen(counting)
    limits = [Limit("client:t1", 3), Limit("account:88000001", 3)]
    for _ in range(2):
        with sessions() as session, session.begin():
            ticket = throttle.acquire(session, limits, NOW)
    assert ticket.counts == {"client:t1": 2, "account:88000001": 2}
    with sessions() as session, session.begin():
        assert {c.key: c.failures for c in throttle.counters(session, NOW)} == ticket.counts
    counted = [compiled for sql, compiled in seen if sql.startswith("INSERT INTO throttle_counters")]
    assert len(counted) == 2
    if engine.dialect.name == "postgresql":
        assert not any(counted)  # storage.hot_sql: compiled once, run on the driver's cursor
    throttle_engine = getattr(throttle, "autocommit", None)
    if throttle_engine is not None:
        throttle_engine.dispose()
