"""Reading reports from a hot standby: how fresh its data is, and transactions that cannot write.

``VOUCHER_REPORTS_DATABASE_URL`` may name a PostgreSQL hot standby (a Patroni replica). A report read there
is as of the last transaction the standby replayed, ``pg_last_xact_replay_timestamp()``; on a primary or
SQLite the data is live. :func:`freshness` reads this inside the report's own transaction (its first
statement, so the snapshot the report reads is at least that fresh); the services decide what it means
(:mod:`vouchers.services.report_source`).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from vouchers.storage.db import make_engine
from vouchers.storage.schema_version import current_revision, head_revision

# One round trip, the first statement of the report's transaction. ``caught_up``: the standby has replayed
# all the WAL it received and its receiver is streaming, so an old replay timestamp only means the primary
# has been idle since (pg_last_xact_replay_timestamp() does not move without commits).
_STANDBY_SQL = text("""
    SELECT pg_is_in_recovery() AS standby,
           pg_last_xact_replay_timestamp() AS replayed_at,
           clock_timestamp() AS server_now,
           (pg_is_in_recovery()
            AND pg_last_wal_receive_lsn() IS NOT NULL
            AND pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()
            AND EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming')) AS caught_up
""")


@dataclass(frozen=True)
class Freshness:
    """What the reports database says about its data, read by its own clock."""

    standby: bool  # a server in recovery (a hot standby); False: a primary or SQLite, the data is live
    replayed_at: dt.datetime | None  # commit time of the last replayed transaction (None: nothing replayed yet)
    server_now: dt.datetime | None  # the database server's clock (the lag is measured by it, not by ours)
    caught_up: bool = False  # nothing received is waiting to be replayed and the receiver streams


LIVE = Freshness(standby=False, replayed_at=None, server_now=None)


def freshness(session: Session | Connection) -> Freshness:
    """The reports database's freshness; on SQLite (no standby) the data is live."""
    if session.get_bind().dialect.name != "postgresql":
        return LIVE
    row = session.execute(_STANDBY_SQL).one()
    if not row.standby:
        return LIVE
    return Freshness(True, row.replayed_at, row.server_now, bool(row.caught_up))


def begin_read_only(session: Session) -> None:
    """Make the session's transaction read-only and one snapshot (PostgreSQL: REPEATABLE READ, allowed on a
    standby); must run before any other statement of the transaction. SQLite's report engine is read-only
    by itself (``make_engine(..., read_only=True)``) and a transaction there is one snapshot already."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))


class ReportsDatabaseError(Exception):
    """``VOUCHER_REPORTS_DATABASE_URL`` names no database of this code's schema (one line for people)."""


def reports_engine(url: str, *, pool_size: int = 5) -> Engine:
    """The reports database's engine: every connection refuses writes. A SQLite file must exist (a reader
    must not create an empty database); the schema is checked by :func:`check_reports_schema`. Built once
    per process (the CLI per URL, the web app in ``create_app``)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        if not Path(parsed.database).is_file():
            raise ReportsDatabaseError(f"the reports database {parsed.database} does not exist "
                                       "(check VOUCHER_REPORTS_DATABASE_URL)")
    return make_engine(url, pool_size=pool_size, read_only=True)


def check_reports_schema(engine: Engine) -> None:
    """The reports database must be at this code's schema head, as the primary must."""
    current = current_revision(engine)
    if current != head_revision():
        raise ReportsDatabaseError(
            f"the reports database's schema is at {current or 'nothing'}, expected {head_revision()} "
            "(check VOUCHER_REPORTS_DATABASE_URL: it must be a standby or copy of the primary)")
