"""The reports' database access on SQLite and PostgreSQL: an engine that cannot write, a report transaction
that is read-only (PostgreSQL) and never committed, and the freshness of a database that is not a standby."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import DBAPIError

from vouchers.services.report_source import LIVE, STANDBY, StaleReports, open_report
from vouchers.storage.db import make_engine, session_factory
from vouchers.storage.ledger_models import LedgerAccount
from vouchers.storage.replica import LIVE as LIVE_FRESHNESS, Freshness, freshness

NOW = dt.datetime(2026, 12, 7, 1, 0, tzinfo=dt.timezone.utc)


def _add_account(session) -> None:
    session.execute(insert(LedgerAccount).values(code="asset:test_replica", kind="asset", currency="CNY",
                                                 balance=0, created_at=NOW))


def test_a_read_only_engine_refuses_every_write(db_url):
    engine = make_engine(db_url, read_only=True)
    try:
        with pytest.raises(DBAPIError) as refused, session_factory(engine).begin() as session:
            _add_account(session)
        assert "read-only" in str(refused.value.orig).lower() or "readonly" in str(refused.value.orig).lower()
        with session_factory(engine)() as session:  # reading works
            assert session.execute(select(LedgerAccount.code)).all() == []
    finally:
        engine.dispose()


def test_a_database_that_is_not_a_standby_is_live(sessions):
    with sessions() as session:
        as_of = open_report(session, now=NOW, max_lag_seconds=0, allow_stale=False)
        assert freshness(session) == LIVE_FRESHNESS
    assert (as_of.at, as_of.source) == (NOW, LIVE)


def test_a_report_transaction_on_postgresql_is_read_only_even_on_the_primary(db_url, sessions):
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite: the fallback reads the primary in a transaction the CLI rolls back (no read-only mode)")
    with sessions() as session:
        open_report(session, now=NOW, max_lag_seconds=0, allow_stale=False)
        with pytest.raises(DBAPIError, match="read-only transaction"):
            _add_account(session)


def test_the_probe_reads_inside_the_report_transaction_and_a_lagging_standby_is_refused(sessions):
    seen = []

    def lagging(session) -> Freshness:
        seen.append(session.execute(text("SELECT 1")).scalar_one())  # in the transaction open_report began
        server = NOW + dt.timedelta(seconds=2)
        return Freshness(True, server - dt.timedelta(seconds=900), server, False)

    with sessions() as session:
        with pytest.raises(StaleReports, match="900 s"):
            open_report(session, now=NOW, max_lag_seconds=300, allow_stale=False, probe=lagging)
    with sessions() as session:
        as_of = open_report(session, now=NOW, max_lag_seconds=300, allow_stale=True, probe=lagging)
    assert (as_of.source, as_of.lag_seconds, seen) == (STANDBY, 900.0, [1, 1])
