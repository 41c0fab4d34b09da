"""Where a report's data comes from and how old it is: the "data as of" every report states.

Reports may read a hot standby (``VOUCHER_REPORTS_DATABASE_URL``). :func:`open_report` starts the report's
read-only transaction, reads the database's freshness first (so the snapshot the report then reads is at
least that fresh) and decides:

* a primary or SQLite: the data is live, as of the moment it is read (``now``);
* a standby: the data is as of its replay timestamp (the commit time of the last transaction it replayed);
  if it lags the primary by more than ``max_lag_seconds`` the report is refused (:class:`StaleReports`)
  unless the caller allows stale data. A standby that has replayed everything it received while streaming
  does not lag, however old its last commit is (an idle primary commits nothing).

The lag is measured by the database server's clock, against the replay timestamp of the same server.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from vouchers.display import local_text

from vouchers.errors import VoucherError
from vouchers.storage.replica import Freshness, begin_read_only, freshness

LIVE, STANDBY = "live", "standby"


class StaleReports(VoucherError):
    """The reports database lags the primary by more than the allowed maximum."""

    code = "reports_database_stale"


@dataclass(frozen=True)
class DataAsOf:
    at: dt.datetime | None  # aware: the data includes every commit up to this instant (None: unknown)
    source: str  # LIVE or STANDBY
    lag_seconds: float | None = None  # a standby's lag behind the primary (0 when caught up)


def data_as_of(state: Freshness, *, now: dt.datetime, max_lag_seconds: float, allow_stale: bool) -> DataAsOf:
    """The as-of of data with freshness ``state`` read at ``now``; :class:`StaleReports` if too old."""
    if not state.standby:
        return DataAsOf(now, LIVE)
    if state.replayed_at is None or state.server_now is None:  # nothing replayed since the standby started
        if state.caught_up and state.server_now is not None:
            return DataAsOf(state.server_now, STANDBY, 0.0)  # ...and nothing waits: it has all there is
        if allow_stale:
            return DataAsOf(None, STANDBY, None)
        raise StaleReports("the reports database is a standby that has replayed no transaction since it started; "
                           "its lag is unknown")
    lag = 0.0 if state.caught_up else max(0.0, (state.server_now - state.replayed_at).total_seconds())
    if lag > max_lag_seconds and not allow_stale:
        raise StaleReports(f"the reports database lags the primary by {lag:.0f} s, more than the "
                           f"{max_lag_seconds:g} s allowed")
    return DataAsOf(state.replayed_at, STANDBY, round(lag, 3))


def open_report(session: Session, *, now: dt.datetime, max_lag_seconds: float, allow_stale: bool,
                probe: Callable[[Session], Freshness] = freshness) -> DataAsOf:
    """Begin the report's read-only transaction on ``session`` and say how fresh its data is.

    ``probe`` reads the freshness (tests inject a standby's); it runs right after the transaction begins."""
    begin_read_only(session)
    return data_as_of(probe(session), now=now, max_lag_seconds=max_lag_seconds, allow_stale=allow_stale)


@contextmanager
def report_transaction(factory: sessionmaker[Session], *, now: dt.datetime, max_lag_seconds: float,
                       allow_stale: bool, probe: Callable[[Session], Freshness] = freshness,
                       ) -> Iterator[tuple[Session, DataAsOf]]:
    """A report's read-only transaction on a session of ``factory`` (the reports database's, or the
    primary's) and the as-of of the data it reads (:func:`open_report`; :class:`StaleReports` unless
    ``allow_stale``). Rolled back at the end: a report writes nothing. The CLI and the console both read
    their reports through this."""
    with factory() as session:
        as_of = open_report(session, now=now, max_lag_seconds=max_lag_seconds, allow_stale=allow_stale,
                            probe=probe)
        try:
            yield session, as_of
        finally:
            session.rollback()


def is_stale(as_of: DataAsOf, max_lag_seconds: float) -> bool:
    """A standby lagging more than the maximum, or by an unknown amount (read with ``allow_stale``)."""
    return as_of.source == STANDBY and (as_of.lag_seconds is None or as_of.lag_seconds > max_lag_seconds)


def as_of_text(as_of: DataAsOf, tz: dt.tzinfo) -> str:
    """The as-of instant as people read it (``2026-11-27 09:50:05 (UTC+8)``, business time), or ``unknown``."""
    return "unknown" if as_of.at is None else local_text(as_of.at, tz, seconds=True)


def pdf_note(as_of: DataAsOf, tz: dt.tzinfo) -> str:
    """The line a report's PDF cover states its data's as-of with, in Chinese and English."""
    if as_of.source == LIVE:
        return f"数据截至 / data as of {as_of_text(as_of, tz)} · 主库实时 / live"
    lag = "?" if as_of.lag_seconds is None else f"{as_of.lag_seconds:.0f} s"
    return f"数据截至 / data as of {as_of_text(as_of, tz)} · 备库回放 / standby replay, lag {lag}"


__all__ = ["DataAsOf", "LIVE", "STANDBY", "StaleReports", "as_of_text", "data_as_of", "is_stale", "open_report",
           "pdf_note", "report_transaction"]
