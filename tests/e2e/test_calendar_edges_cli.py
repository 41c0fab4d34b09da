"""Commands whose default is "today" or "this month", at the calendar's edges (injected clock).

Each command's default period is the business day/month (VOUCHER_TIMEZONE, Asia/Shanghai), not the UTC
one: between 00:00 and 08:00 in Beijing the two differ, and on 31 December/1 January they differ by a
year. 29 February exists only in leap years. A command that took UTC's date, or stepped months by adding
30 days, fails one of these.
"""
from __future__ import annotations

import datetime as dt
import json
import zoneinfo

import pytest

from vouchers.storage.db import make_engine, session_factory
from tests.inprocess_cli import in_process_cli
from tests.integration.books.conftest import make_batch

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


@pytest.fixture
def cli_at(db_url, tmp_path, monkeypatch, capsys):
    """``cli_at(instant)`` -> ``run(*argv)`` with the CLI's clock at ``instant``."""
    runs = []

    def make(instant: dt.datetime):
        gen = in_process_cli(db_url, tmp_path / "home", monkeypatch, capsys, now=instant)
        runs.append(gen)
        return next(gen)

    yield make
    for gen in runs:
        next(gen, None)


def ok_json(result: tuple[int, str, str]) -> dict:
    code, out, err = result
    assert code == 0, err
    return json.loads(out)


def refused(result: tuple[int, str, str], fragment: str) -> None:
    code, _, err = result
    assert code != 0 and fragment in err, err


def _stock(db_url: str, *, expires: dt.date, count: int = 2) -> str:
    engine = make_engine(db_url)
    with session_factory(engine).begin() as s:
        batch = make_batch(s, count=count, face_value=5000, expires=expires,
                           now=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
    engine.dispose()
    return batch.batch_id


@pytest.mark.parametrize(("instant", "today", "month_start"), [
    # 31 December, last minute in Beijing
    (dt.datetime(2026, 12, 31, 23, 59, tzinfo=SHANGHAI), "2026-12-31", "2026-12-01"),
    # 1 January 00:30 in Beijing: still 31 December in UTC
    (dt.datetime(2027, 1, 1, 0, 30, tzinfo=SHANGHAI), "2027-01-01", "2027-01-01"),
    # 29 February of a leap year, 07:00 in Beijing: still the 28th in UTC
    (dt.datetime(2028, 2, 29, 7, 0, tzinfo=SHANGHAI), "2028-02-29", "2028-02-01"),
    # 1 March after a leap day, 00:01 in Beijing
    (dt.datetime(2028, 3, 1, 0, 1, tzinfo=SHANGHAI), "2028-03-01", "2028-03-01"),
])
def test_default_periods_are_the_business_day_and_month(cli_at, instant, today, month_start):
    cli = cli_at(instant)
    liability = ok_json(cli("report", "liability", "--json"))
    start = dt.datetime.fromisoformat(liability["roll_forward"]["start"]).astimezone(SHANGHAI)
    assert (start.date().isoformat(), start.time()) == (month_start, dt.time(0, 0))
    # the report holds at the end of the business day: 00:00 of the next local day
    as_of = dt.datetime.fromisoformat(liability["as_of"]).astimezone(SHANGHAI)
    assert as_of.date() - dt.timedelta(days=1) == dt.date.fromisoformat(today) and as_of.time() == dt.time(0, 0)
    breakage = ok_json(cli("report", "breakage", "--json"))
    assert (breakage["from"], breakage["to"]) == (month_start, today)
    # the business today is allowed as an as-of; the next local day is the future
    next_day = (dt.date.fromisoformat(today) + dt.timedelta(days=1)).isoformat()
    assert ok_json(cli("vouchers", "expire", "--as-of", today, "--json"))["expired"] == 0
    refused(cli("vouchers", "expire", "--as-of", next_day, "--json"), f"as-of date {next_day} is in the future")


@pytest.mark.parametrize(("instant", "last_valid_day", "expired"), [
    # the last valid day is still running in Beijing: nothing expires
    (dt.datetime(2026, 12, 31, 23, 59, tzinfo=SHANGHAI), dt.date(2026, 12, 31), 0),
    # 00:30 on 1 January in Beijing (16:30 UTC on the 31st): cards valid to 31 December have expired
    (dt.datetime(2027, 1, 1, 0, 30, tzinfo=SHANGHAI), dt.date(2026, 12, 31), 2),
    # leap day: valid through 29 February, expired on 1 March at 00:01 Beijing (16:01 UTC on the 29th)
    (dt.datetime(2028, 2, 29, 23, 59, tzinfo=SHANGHAI), dt.date(2028, 2, 29), 0),
    (dt.datetime(2028, 3, 1, 0, 1, tzinfo=SHANGHAI), dt.date(2028, 2, 29), 2),
])
def test_expiry_by_default_follows_the_business_date(cli_at, db_url, instant, last_valid_day, expired):
    batch_id = _stock(db_url, expires=last_valid_day)
    sold = cli_at(instant - dt.timedelta(days=1))
    ok_json(sold("batch", "activate", batch_id, "--distributor", "SHOP-1", "--json"))
    cli = cli_at(instant)
    assert ok_json(cli("vouchers", "expire", "--json"))["expired"] == expired
    assert ok_json(cli("ledger", "verify", "--json"))["ok"]


@pytest.mark.parametrize(("instant", "this_month", "last_month"), [
    (dt.datetime(2026, 12, 31, 23, 59, tzinfo=SHANGHAI), "2026-12", "2026-11"),
    # 00:30 on 1 January in Beijing, still December in UTC: December has ended
    (dt.datetime(2027, 1, 1, 0, 30, tzinfo=SHANGHAI), "2027-01", "2026-12"),
    (dt.datetime(2028, 2, 29, 23, 59, tzinfo=SHANGHAI), "2028-02", "2028-01"),
    (dt.datetime(2028, 3, 1, 0, 1, tzinfo=SHANGHAI), "2028-03", "2028-02"),
])
def test_month_end_late_fees_run_once_the_business_month_has_ended(cli_at, instant, this_month, last_month):
    cli = cli_at(instant)
    refused(cli("billing", "late-fees", "--month", this_month, "--json"), f"month {this_month} has not ended yet")
    code, _, err = cli("billing", "late-fees", "--month", last_month, "--json")
    assert code == 0, err
