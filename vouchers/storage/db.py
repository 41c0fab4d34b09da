"""Engines and units of work. Engines are built by the caller (CLI, create_app)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker


class Base(DeclarativeBase):
    pass


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # pragma: no cover - exercised by every SQLite test
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_query_only(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()


def _pg_read_only(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("SET default_transaction_read_only = on")
    cursor.close()
    dbapi_connection.commit()


def make_engine(url: str, *, pool_size: int = 5, read_only: bool = False) -> Engine:
    """An engine for ``url`` with pre-ping and, on SQLite, WAL + busy timeout.

    ``hide_parameters``: a database error's message (and so any log of it) never carries the bound
    values - code hashes, tokens, customer data; callers look at ``error.orig`` and its SQLSTATE only.
    ``read_only``: the reports' engine (``VOUCHER_REPORTS_DATABASE_URL``): every connection refuses writes
    (PostgreSQL ``default_transaction_read_only``, SQLite ``query_only``) and SQLite transactions begin
    deferred (a reader takes no write lock).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, pool_pre_ping=True, hide_parameters=True, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        if read_only:
            event.listen(engine, "connect", _sqlite_query_only)
        # Take the write lock at BEGIN so two writers queue instead of failing
        # with "database is locked" when upgrading a read transaction.
        @event.listens_for(engine, "begin")
        def _begin_immediate(conn) -> None:  # pragma: no cover - exercised by every SQLite test
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        @event.listens_for(engine, "connect")
        def _no_pysqlite_begin(dbapi_connection, _record) -> None:  # pragma: no cover
            dbapi_connection.isolation_level = None

        return engine
    engine = create_engine(url, pool_pre_ping=True, hide_parameters=True, pool_size=pool_size,
                           max_overflow=pool_size)
    _plain_savepoints(engine.dialect)
    if read_only:
        event.listen(engine, "connect", _pg_read_only)
    return engine


def _plain_savepoints(dialect: Any) -> None:
    """SAVEPOINT / RELEASE / ROLLBACK TO as plain SQL text: SQLAlchemy builds and compiles a clause for
    each one (never cached: the name changes), ~0.3 ms of Python a time on the redemption's hot path,
    which takes and releases one savepoint per request. Same statements, same cursor events."""
    quote = dialect.identifier_preparer.quote

    def do_savepoint(connection: Any, name: str) -> None:
        connection.exec_driver_sql(f"SAVEPOINT {quote(name)}")

    def do_release_savepoint(connection: Any, name: str) -> None:
        connection.exec_driver_sql(f"RELEASE SAVEPOINT {quote(name)}")

    def do_rollback_to_savepoint(connection: Any, name: str) -> None:
        connection.exec_driver_sql(f"ROLLBACK TO SAVEPOINT {quote(name)}")

    dialect.do_savepoint = do_savepoint
    dialect.do_release_savepoint = do_release_savepoint
    dialect.do_rollback_to_savepoint = do_rollback_to_savepoint


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any exception."""
    with factory() as session, session.begin():
        yield session
