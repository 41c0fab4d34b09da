"""vouchers.storage.hot_sql: the same rows, values and errors as SQLAlchemy's own execution, on both databases."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import String, bindparam, exc, insert, select, text, update

from vouchers.storage import hot_sql
from vouchers.storage.api_models import ThrottleCounter
from vouchers.storage.types import UTCDateTime

T = ThrottleCounter.__table__
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
AT = dt.datetime(2026, 11, 27, 18, 30, tzinfo=SHANGHAI)

_INSERT = insert(T).values(key=bindparam("key"), window_start=bindparam("at", type_=UTCDateTime()), failures=1,
                           updated_at=bindparam("at", type_=UTCDateTime()))
_INSERT_RETURNING = insert(T).values(key=bindparam("key"), window_start=bindparam("at", type_=UTCDateTime()),
                                     failures=bindparam("failures"),
                                     updated_at=bindparam("at", type_=UTCDateTime())).returning(T.c.key, T.c.failures)
_BUMP = (update(T).where(T.c.key == bindparam("k"), T.c.failures == 1).values(failures=7)
         .returning(T.c.failures, T.c.window_start))
_READ = select(T.c.key, T.c.window_start, T.c.failures).where(T.c.failures >= bindparam("least")).order_by(T.c.key)
_TEXT = text("SELECT count(*) AS n, max(failures) AS top FROM throttle_counters")
_EXPANDING = select(T.c.key).where(T.c.key.in_(bindparam("keys", expanding=True)))


def test_rows_values_and_types_match_sqlalchemy(sessions):
    with sessions.begin() as session:
        hot_sql.execute(session, _INSERT, {"key": "a", "at": AT})
        hot_sql.execute(session, _INSERT, {"key": "b", "at": AT + dt.timedelta(minutes=1)})
        returned = hot_sql.one_or_none(session, _INSERT_RETURNING, {"key": "c", "at": AT, "failures": 3})
        assert (returned.key, returned.failures) == ("c", 3)
        # the statement's own values (failures=7, failures == 1) go in with the caller's
        bumped = hot_sql.one_or_none(session, _BUMP, {"k": "a"})
        assert bumped.failures == 7 and bumped[0] == 7
        assert bumped.window_start == AT and bumped.window_start.tzinfo == dt.timezone.utc  # UTCDateTime's result
        assert hot_sql.one_or_none(session, _BUMP, {"k": "a"}) is None  # failures is 7 now: no row
        fast = hot_sql.rows(session, _READ, {"least": 1})
        slow = session.execute(_READ, {"least": 1}).all()
        assert [tuple(r) for r in fast] == [tuple(r) for r in slow]
        assert [r.key for r in fast] == ["a", "b", "c"]
        assert all(r.window_start.tzinfo == dt.timezone.utc for r in fast)
        counted = hot_sql.one_or_none(session, _TEXT, {})
        assert (counted.n, counted.top) == (3, 7)
        assert hot_sql.scalar_one_or_none(session, _TEXT, {}) == 3


def test_more_than_one_row_for_one_or_none(sessions):
    with sessions.begin() as session:
        hot_sql.execute(session, _INSERT, {"key": "a", "at": AT})
        hot_sql.execute(session, _INSERT, {"key": "b", "at": AT})
        with pytest.raises(exc.MultipleResultsFound):
            hot_sql.one_or_none(session, _READ, {"least": 0})


def test_driver_errors_are_sqlalchemys_and_roll_back(sessions):
    with sessions() as session:
        session.begin()
        hot_sql.execute(session, _INSERT, {"key": "a", "at": AT})
        with pytest.raises(exc.IntegrityError) as raised:
            hot_sql.execute(session, _INSERT, {"key": "a", "at": AT})
        assert raised.value.orig is not None
        session.rollback()
    with sessions.begin() as session:  # nothing of the failed transaction is left
        assert hot_sql.rows(session, _READ, {"least": 0}) == []


def test_a_missing_parameter_is_refused_not_sent_as_null(sessions):
    with sessions.begin() as session:
        with pytest.raises(exc.StatementError if session.get_bind().dialect.name == "sqlite"
                           else exc.ArgumentError):
            hot_sql.execute(session, _INSERT, {"key": "a"})


def test_naive_datetimes_are_refused_as_by_the_column_type(sessions):
    with sessions.begin() as session:
        with pytest.raises((ValueError, exc.StatementError)):
            hot_sql.execute(session, _INSERT, {"key": "a", "at": AT.replace(tzinfo=None)})


@pytest.mark.postgres
def test_expanding_parameters_are_not_taken(pg_engine):
    from vouchers.storage.db import session_factory

    with session_factory(pg_engine).begin() as session:
        with pytest.raises(TypeError, match="expanding"):
            hot_sql.rows(session, _EXPANDING, {"keys": ["a"]})


def test_an_insert_without_values_sets_the_columns_named(sessions):
    bare = insert(T).inline()
    with sessions.begin() as session:
        hot_sql.execute(session, bare, {"key": "a", "window_start": AT, "failures": 2, "updated_at": AT})
        hot_sql.execute(session, bare, {"key": "b", "window_start": AT, "failures": 5, "updated_at": AT})
        assert [(r.key, r.failures) for r in hot_sql.rows(session, _READ, {"least": 0})] == [("a", 2), ("b", 5)]


def test_execute_returns_the_rows_changed(sessions):
    bump = update(T).where(T.c.failures < bindparam("below")).values(failures=T.c.failures + 1)
    with sessions.begin() as session:
        for key in "abc":
            hot_sql.execute(session, _INSERT, {"key": key, "at": AT})
        assert hot_sql.execute(session, bump, {"below": 2}) == 3
        assert hot_sql.execute(session, bump, {"below": 2}) == 0


@pytest.mark.postgres
def test_python_side_defaults_are_refused_on_postgresql(pg_engine):
    from vouchers.storage.api_models import OutboxMessage
    from vouchers.storage.db import session_factory

    # OutboxMessage.attempts has a Python-side default: leaving it out would need SQLAlchemy's execution
    with session_factory(pg_engine).begin() as session:
        with pytest.raises(TypeError, match="defaults"):
            hot_sql.execute(session, insert(OutboxMessage.__table__).inline(),
                            {"kind": "k", "account_no": "1", "payload": "{}", "created_at": AT})


def test_cursor_event_listeners_see_the_statements(sessions, engine):
    from sqlalchemy import event

    seen: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement.split()[0])

    event.listen(engine, "before_cursor_execute", before)
    try:
        with sessions.begin() as session:
            hot_sql.execute(session, _INSERT, {"key": "a", "at": AT})
            hot_sql.rows(session, _READ, {"least": 0})
    finally:
        event.remove(engine, "before_cursor_execute", before)
    assert [s for s in seen if s != "BEGIN"] == ["INSERT", "SELECT"]  # SQLite: our explicit BEGIN


def test_percent_signs_and_a_parameter_used_twice(sessions):
    statement = text("SELECT :a || '%' AS x, :a AS y, 7 % 3 AS z").bindparams(bindparam("a", type_=String()))
    with sessions.begin() as session:
        row = hot_sql.one_or_none(session, statement, {"a": "50"})
        assert (row.x, row.y, row.z) == ("50%", "50", 1)


def test_the_kept_connection_is_the_transactions_own(sessions):
    """A session's next transaction may get another pooled connection: nothing of the last one is reused."""
    session = sessions()
    try:
        with session.begin():
            hot_sql.execute(session, _INSERT, {"key": "a", "at": AT})
            first = session.connection()
        session.close()  # the connection goes back to the pool
        with session.begin():
            assert hot_sql.rows(session, _READ, {"least": 0})[0].key == "a"
            assert session.info.get("hot_sql_connection") is session.connection()
        with session.begin():
            session.begin_nested().rollback()  # a savepoint's end forgets it too; the next call asks again
            assert hot_sql.scalar_one_or_none(session, _TEXT, {}) == 1
        assert "hot_sql_connection" not in session.info
        assert first is not None
    finally:
        session.close()
