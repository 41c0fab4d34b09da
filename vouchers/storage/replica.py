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

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

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
