"""The as-of a report states, and when a lagging standby is refused (pure: freshness and ``now`` passed in)."""
from __future__ import annotations

import datetime as dt

import pytest

from vouchers.services.report_source import LIVE, STANDBY, DataAsOf, StaleReports, data_as_of, is_stale, pdf_note
from vouchers.storage.replica import LIVE as LIVE_FRESHNESS, Freshness

NOW = dt.datetime(2026, 12, 7, 1, 0, tzinfo=dt.timezone.utc)
SERVER = dt.datetime(2026, 12, 7, 1, 0, 3, tzinfo=dt.timezone.utc)  # the database's own clock


def standby(lag_seconds: float, *, caught_up: bool = False) -> Freshness:
    return Freshness(True, SERVER - dt.timedelta(seconds=lag_seconds), SERVER, caught_up)


def test_a_primary_or_sqlite_is_live_as_of_the_read():
    assert data_as_of(LIVE_FRESHNESS, now=NOW, max_lag_seconds=0, allow_stale=False) == DataAsOf(NOW, LIVE)


def test_a_standby_is_as_of_its_replay_timestamp_with_its_lag_measured_by_its_own_clock():
    got = data_as_of(standby(42), now=NOW, max_lag_seconds=300, allow_stale=False)
    assert got == DataAsOf(SERVER - dt.timedelta(seconds=42), STANDBY, 42.0)


def test_lag_up_to_the_maximum_passes_and_beyond_it_is_refused_unless_stale_is_allowed():
    assert data_as_of(standby(300), now=NOW, max_lag_seconds=300, allow_stale=False).lag_seconds == 300
    with pytest.raises(StaleReports, match=r"lags the primary by 301 s, more than the 300 s allowed"):
        data_as_of(standby(301), now=NOW, max_lag_seconds=300, allow_stale=False)
    stale = data_as_of(standby(3600), now=NOW, max_lag_seconds=300, allow_stale=True)
    assert (stale.at, stale.source, stale.lag_seconds) == (SERVER - dt.timedelta(hours=1), STANDBY, 3600)


def test_a_caught_up_standby_does_not_lag_however_old_its_last_commit():
    """An idle primary commits nothing, so the replay timestamp stays old while the standby has everything."""
    got = data_as_of(standby(86400, caught_up=True), now=NOW, max_lag_seconds=5, allow_stale=False)
    assert got == DataAsOf(SERVER - dt.timedelta(days=1), STANDBY, 0.0)


def test_a_standby_that_replayed_nothing_yet_is_refused_unless_caught_up_or_allowed():
    nothing = Freshness(True, None, SERVER, False)
    with pytest.raises(StaleReports, match="replayed no transaction"):
        data_as_of(nothing, now=NOW, max_lag_seconds=300, allow_stale=False)
    assert data_as_of(nothing, now=NOW, max_lag_seconds=300, allow_stale=True) == DataAsOf(None, STANDBY, None)
    caught_up = Freshness(True, None, SERVER, True)
    assert data_as_of(caught_up, now=NOW, max_lag_seconds=300, allow_stale=False) == DataAsOf(SERVER, STANDBY, 0.0)


def test_stale_is_a_standby_over_the_maximum_or_of_unknown_lag_read_anyway_by_the_console():
    read = lambda lag: data_as_of(standby(lag), now=NOW, max_lag_seconds=300, allow_stale=True)  # noqa: E731
    assert not is_stale(read(300), 300) and is_stale(read(301), 300)
    assert is_stale(DataAsOf(None, STANDBY, None), 300)
    assert not is_stale(DataAsOf(NOW, LIVE), 0)


def test_the_pdf_note_is_in_business_time_in_chinese_and_english():
    beijing = dt.timezone(dt.timedelta(hours=8))
    assert pdf_note(DataAsOf(NOW, LIVE), beijing) == "数据截至 / data as of 2026-12-07 09:00:00 (UTC+8) · 主库实时 / live"
    assert pdf_note(DataAsOf(None, STANDBY, None), beijing).endswith("unknown · 备库回放 / standby replay, lag ?")
