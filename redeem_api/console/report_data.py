"""The console's reports read the reports database (``VOUCHER_REPORTS_DATABASE_URL``, else the primary)
through :func:`vouchers.services.report_source.report_transaction`, as the CLI's do, and state the data's
as-of on the page and on PDF downloads.

A page cannot take ``--allow-stale``: a standby lagging more than ``VOUCHER_REPORTS_MAX_LAG_SECONDS`` is
read anyway and the page shows a warning banner stating the lag (``stale``), instead of refusing.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.orm import Session

from redeem_api.console.gate import now
from redeem_api.state import state
from vouchers.services.report_source import (STANDBY, DataAsOf, as_of_text, is_stale, pdf_note,
                                             report_transaction)


@dataclass(frozen=True)
class ShownAsOf:
    """What a page says about its data: the instant (business time), standby or live, the lag, stale."""

    at: str
    standby: bool
    lag_seconds: float | None
    stale: bool
    max_lag_seconds: int
    pdf_note: str


@contextmanager
def report_session() -> Iterator[tuple[Session, ShownAsOf]]:
    """A read-only report transaction on the reports database and what the page says about its data."""
    st = state()
    settings = st.config.settings
    max_lag = settings.reports_max_lag_seconds
    with report_transaction(st.report_sessions, now=now(), max_lag_seconds=max_lag, allow_stale=True,
                            probe=st.replay_probe) as (session, as_of):
        yield session, shown(as_of, max_lag)


def shown(as_of: DataAsOf, max_lag_seconds: int) -> ShownAsOf:
    tz = state().config.settings.tz
    return ShownAsOf(at=as_of_text(as_of, tz), standby=as_of.source == STANDBY, lag_seconds=as_of.lag_seconds,
                     stale=is_stale(as_of, max_lag_seconds), max_lag_seconds=max_lag_seconds,
                     pdf_note=pdf_note(as_of, tz))
