"""``VOUCHER_REPORTS_DATABASE_URL`` through ``voucherctl``, in process, on SQLite and PostgreSQL.

The reports database here is another database than the primary (on a real installation a hot standby of
it; the drill in tests/e2e/reliability/test_cluster_drills.py uses one): it holds the business day of
test_finance_lists_cli, the primary starts empty. Reports must read the reports database and say as of
when; writes must land on the primary; a lagging standby (an injected replay timestamp) is refused in one
line unless ``--allow-stale``.
"""
from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select

from tests.e2e.test_finance_lists_cli import ACC1, PASSPHRASE, PAYMENT_CHANNELS, _build_day, at, pdf_text
from tests.inprocess_cli import in_process_cli
from voucherctl import context
from vouchers.storage.db import make_engine
from vouchers.storage.ledger_models import CustomerAccount, Payment
from vouchers.storage.replica import Freshness

NOW = at(10, days=1)  # 2026-11-27 10:00 in Beijing: the CLI's clock
NEW_ACCOUNT = "3100000099"

# Every command that reads the reports database, with arguments that give it something to report.
REPORTS = [
    ("report", "liability", "--as-of", "2026-11-26"),
    ("report", "breakage", "--from", "2026-11-01", "--to", "2026-11-26"),
    ("report", "channels", "--from", "2026-11-26", "--to", "2026-11-26"),
    ("report", "collection", "--from", "2026-11-01", "--to", "2026-11-26"),
    ("report", "trial-balance", "--as-of", "2026-11-26"),
    ("report", "distributor", "SHOP-1", "--from", "2026-11-01", "--to", "2026-11-26"),
    ("report", "daily-close", "--date", "2026-11-26", "--no-checkpoint"),
    ("collection", "report", "--month", "2026-11"),
    ("accounts", "statement", ACC1, "--from", "2026-11-01", "--to", "2026-11-26"),
    ("accounts", "search", "31000000"),
    ("payments", "list"),
    ("fraud", "report", "--since", "2026-11-01", "--format", "json"),
]


@pytest.fixture
def cli(db_url, primary_url, tmp_path, monkeypatch, capsys):
    _build_day(db_url)
    monkeypatch.setenv("VOUCHER_KEY_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("VOUCHER_WEB_PASSPHRASE", PASSPHRASE + " web")
    monkeypatch.setenv("VOUCHER_REPORTS_DATABASE_URL", db_url)
    monkeypatch.delenv("VOUCHER_REPORTS_MAX_LAG_SECONDS", raising=False)
    yield from in_process_cli(primary_url, tmp_path / "home", monkeypatch, capsys, now=NOW)


def ok_json(result: tuple[int, str, str]) -> dict:
    code, out, err = result
    assert code == 0, err
    return json.loads(out)


def lagging(seconds: float, *, caught_up: bool = False):
    """A replay probe of a standby ``seconds`` behind (the database's clock: 2026-11-27 10:00:05 in Beijing)."""
    server = NOW + dt.timedelta(seconds=5)

    def probe(session) -> Freshness:
        return Freshness(True, server - dt.timedelta(seconds=seconds), server, caught_up)

    return probe


def count(url: str, statement) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(statement).scalar_one()
    finally:
        engine.dispose()


def test_reports_read_the_reports_database_and_writes_go_to_the_primary(cli, db_url, primary_url):
    listed = ok_json(cli("payments", "list", "--limit", "500", "--json"))
    assert listed["total"] == len(PAYMENT_CHANNELS) + 3  # the reports database's day; the primary has none
    assert [a["account_no"] for a in ok_json(cli("accounts", "search", ACC1, "--json"))["accounts"]] == [ACC1]
    close = ok_json(cli("report", "daily-close", "--date", "2026-11-26", "--no-checkpoint", "--json"))
    assert close["balanced"] and close["channels"] and close["totals"]["money_in"] != "0.00"

    # writes go to the primary: an account and a payment there, nothing new in the reports database
    ok_json(cli("accounts", "create", "--account-no", NEW_ACCOUNT, "--name", "王五", "--json"))
    ok_json(cli("payments", "post", "--channel", "counter_cash", "--account-no", NEW_ACCOUNT, "--amount", "5.00",
                "--ref", "to-the-primary", "--json"))
    assert count(primary_url, select(func.count()).select_from(Payment)) == 1
    assert count(db_url, select(func.count()).where(Payment.external_ref == "to-the-primary")) == 0
    assert count(db_url, select(func.count()).where(CustomerAccount.account_no == NEW_ACCOUNT)) == 0
    # ...and the reports keep reading the reports database (until a standby replays the primary's writes)
    assert ok_json(cli("payments", "list", "--ref", "to-the-primary", "--json"))["total"] == 0
    assert ok_json(cli("payments", "list", "--limit", "500", "--json"))["total"] == listed["total"]


def test_without_the_setting_reports_read_the_primary(cli, monkeypatch):
    monkeypatch.delenv("VOUCHER_REPORTS_DATABASE_URL")
    context.settings.cache_clear()
    listed = ok_json(cli("payments", "list", "--json"))
    assert (listed["total"], listed["data_source"]) == (0, "live")


def test_every_report_states_its_data_as_of_in_json_and_text(cli):
    for argv in REPORTS:
        json_argv = argv if "--format" in argv else (*argv, "--json")
        document = ok_json(cli(*json_argv))
        assert (document["data_as_of"], document["data_source"], document["data_lag_seconds"]) == (
            "2026-11-27T10:00:00+08:00", "live", None), argv  # the reports database is no standby here: live, now
        text_argv = [a for a in argv if a not in ("--format", "json")]
        code, out, err = cli(*text_argv)
        assert code == 0, err
        assert out.rstrip("\n").splitlines()[-1] == (
            "data as of 2026-11-27 10:00:00 (UTC+8): live (read from the primary)"), argv


def test_a_lagging_standby_is_refused_in_one_line_unless_stale_is_allowed(cli, monkeypatch, tmp_path):
    monkeypatch.setattr(context, "replay_probe", lagging(600))
    out_csv = tmp_path / "trial.csv"
    for argv in REPORTS:
        code, out, err = cli(*argv)
        assert code == 1 and out == "", argv
        assert err.strip().count("\n") == 0 and "lags the primary by 600 s, more than the 300 s allowed" in err, err
        assert "--allow-stale" in err and "VOUCHER_REPORTS_MAX_LAG_SECONDS" in err
    code, _, _ = cli("report", "trial-balance", "--as-of", "2026-11-26", "--csv", str(out_csv))
    assert code == 1 and not out_csv.exists()  # refused before any file is written

    for argv in REPORTS:
        json_argv = (*argv, "--allow-stale") + (() if "--format" in argv else ("--json",))
        document = ok_json(cli(*json_argv))
        assert (document["data_as_of"], document["data_source"], document["data_lag_seconds"]) == (
            "2026-11-27T09:50:05+08:00", "standby", 600.0), argv  # the replay timestamp, in business time
    code, out, err = cli("report", "trial-balance", "--as-of", "2026-11-26", "--allow-stale")
    assert out.rstrip("\n").splitlines()[-1] == (
        "data as of 2026-11-27 09:50:05 (UTC+8): hot standby's last replayed commit (lag 600 s)")


def test_the_maximum_lag_is_configurable_and_a_caught_up_standby_never_lags(cli, monkeypatch):
    monkeypatch.setattr(context, "replay_probe", lagging(20))
    assert ok_json(cli("report", "trial-balance", "--json"))["data_lag_seconds"] == 20.0  # under the default 300 s
    monkeypatch.setenv("VOUCHER_REPORTS_MAX_LAG_SECONDS", "10")
    context.settings.cache_clear()
    code, _, err = cli("report", "trial-balance", "--json")
    assert code == 1 and "more than the 10 s allowed" in err
    monkeypatch.setattr(context, "replay_probe", lagging(3600, caught_up=True))  # idle primary, nothing to replay
    document = ok_json(cli("report", "trial-balance", "--json"))
    assert (document["data_as_of"], document["data_lag_seconds"]) == ("2026-11-27T09:00:05+08:00", 0.0)
    monkeypatch.setenv("VOUCHER_REPORTS_MAX_LAG_SECONDS", "soon")
    context.settings.cache_clear()
    code, _, err = cli("report", "trial-balance")
    assert code == 1 and err.strip().endswith("error: VOUCHER_REPORTS_MAX_LAG_SECONDS must be an integer, got 'soon'")


def test_pdf_covers_state_the_data_as_of(cli, monkeypatch, tmp_path):
    monkeypatch.setattr(context, "replay_probe", lagging(2))
    for argv in (("report", "liability", "--as-of", "2026-11-26"), ("report", "daily-close", "--date", "2026-11-26",
                                                                     "--no-checkpoint"),
                 ("collection", "report", "--month", "2026-11"), ("accounts", "statement", ACC1)):
        out_pdf = tmp_path / f"{argv[1]}.pdf"
        code, out, err = cli(*argv, "--pdf", str(out_pdf))
        assert code == 0, err
        shown = " ".join(pdf_text(out_pdf).split())
        assert "data as of 2026-11-27 10:00:03 (UTC+8)" in shown and "standby replay, lag 2 s" in shown, argv


def test_a_reports_database_that_is_missing_or_not_ours_is_one_line(cli, monkeypatch, tmp_path, sqlite_template):
    monkeypatch.setenv("VOUCHER_REPORTS_DATABASE_URL", f"sqlite:///{tmp_path / 'nowhere.db'}")
    context.settings.cache_clear()
    code, _, err = cli("report", "trial-balance")
    assert code == 1 and "the reports database" in err and "does not exist" in err
    assert not (tmp_path / "nowhere.db").exists()
    empty = tmp_path / "empty.db"
    make_engine(f"sqlite:///{empty}").connect().close()
    monkeypatch.setenv("VOUCHER_REPORTS_DATABASE_URL", f"sqlite:///{empty}")
    context.settings.cache_clear()
    code, _, err = cli("report", "trial-balance")
    assert code == 1 and "reports database's schema is at nothing" in err
