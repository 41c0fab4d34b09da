"""voucherctl reads the configuration file (VOUCHER_CONFIG or VOUCHER_HOME/voucher.toml) under the environment."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from tests.inprocess_cli import in_process_cli

# 20:00 UTC on 31 March is already 1 April in Shanghai: the report's default day shows the time zone
NOW = dt.datetime(2026, 3, 31, 20, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def run(db_url, tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.delenv("VOUCHER_CONFIG", raising=False)
    yield from in_process_cli(db_url, home, monkeypatch, capsys, now=NOW)


def test_the_time_zone_in_the_home_file_sets_the_business_day(run, tmp_path, monkeypatch):
    code, out, err = run("report", "breakage", "--json")
    assert code == 0, err
    assert json.loads(out)["to"] == "2026-04-01"  # Asia/Shanghai, the default

    from voucherctl import context

    (tmp_path / "home" / "voucher.toml").write_text('timezone = "UTC"\n', encoding="utf-8")
    context.settings.cache_clear()
    code, out, err = run("report", "breakage", "--json")
    assert code == 0, err
    assert json.loads(out)["to"] == "2026-03-31"

    monkeypatch.setenv("VOUCHER_TIMEZONE", "Asia/Shanghai")  # the environment wins over the file
    context.settings.cache_clear()
    code, out, err = run("report", "breakage", "--json")
    assert json.loads(out)["to"] == "2026-04-01"


def test_the_issuer_code_in_the_file_starts_every_batch_id(cli, tmp_path):
    config = tmp_path / "voucher.toml"
    config.write_text("[issuer]\ncode = 7\n", encoding="utf-8")
    env = {"VOUCHER_CONFIG": str(config)}
    cli("init", env=env, check=True)
    cli("keys", "create", env=env, check=True)
    args = ("batch", "create", "--face-value", "10.00", "--count", "2", "--expires", "2099-12-31",
            "--operator", "alice", "--json")
    assert cli(*args, env=env, check=True).json()["batch_id"].startswith("B07-")
    overridden = cli(*args, env={**env, "VOUCHER_ISSUER_CODE": "8"}, check=True)
    assert overridden.json()["batch_id"].startswith("B08-")


@pytest.mark.parametrize(("text", "expected"), [
    ("[throttle]\nweb_ip_failure = 3\n", "unknown key 'throttle.web_ip_failure'"),
    ("[issuer]\ncode = \"seven\"\n", "issuer.code must be an integer, got 'seven'"),
    ("[billing]\nworkers = -2\n", "billing.workers must be at least 1, got -2"),
    ("[keys]\npassphrase = \"a long secret phrase\"\n", "read from the environment only"),
])
def test_a_bad_file_is_one_line_naming_the_key_and_a_failure(cli, tmp_path, text, expected):
    config = tmp_path / "voucher.toml"
    config.write_text(text, encoding="utf-8")
    result = cli("batch", "list", env={"VOUCHER_CONFIG": str(config)})
    assert result.code == 1 and result.err.count("\n") == 1, result.err
    assert result.err.startswith(f"voucherctl: error: {config}: ") and expected in result.err


def test_voucher_config_naming_a_missing_file_is_an_error(cli, tmp_path):
    result = cli("batch", "list", env={"VOUCHER_CONFIG": str(tmp_path / "nowhere.toml")})
    assert result.code == 1 and result.err.count("\n") == 1
    assert "VOUCHER_CONFIG: no configuration file" in result.err and "nowhere.toml" in result.err
