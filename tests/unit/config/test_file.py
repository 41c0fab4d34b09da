"""The TOML file under the environment: values, precedence and one-line errors naming the key."""
from __future__ import annotations

from pathlib import Path

import pytest

from vouchers.config import ConfigError, load_settings
from vouchers.config.keys import KEYS
from vouchers.config.settings import effective_env


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def error(environ: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_the_file_in_the_home_is_read_and_the_environment_wins(tmp_path):
    write(tmp_path / "voucher.toml", 'timezone = "UTC"\ncurrency = "EUR"\n[issuer]\ncode = 7\n'
                                     '[throttle]\nweb_ip_failures = 3\n')
    settings = load_settings({"VOUCHER_HOME": str(tmp_path), "VOUCHER_CURRENCY": "USD"})
    assert (settings.timezone, settings.issuer_code, settings.currency) == ("UTC", 7, "USD")
    assert settings.throttle.web_ip_failures == 3
    assert settings.source == tmp_path / "voucher.toml"


def test_without_a_file_everything_is_as_before(tmp_path):
    settings = load_settings({"VOUCHER_HOME": str(tmp_path), "VOUCHER_TIMEZONE": "Europe/Paris"})
    assert settings.source is None and settings.timezone == "Europe/Paris" and settings.issuer_code == 1


def test_voucher_config_names_the_file_and_a_missing_one_is_an_error(tmp_path):
    named = write(tmp_path / "elsewhere.toml", "[database]\nurl = \"sqlite:///x.db\"\n")
    write(tmp_path / "voucher.toml", "[issuer]\ncode = 9\n")  # not read: VOUCHER_CONFIG wins
    settings = load_settings({"VOUCHER_HOME": str(tmp_path), "VOUCHER_CONFIG": str(named)})
    assert settings.database_url == "sqlite:///x.db" and settings.issuer_code == 1
    message = error({"VOUCHER_CONFIG": str(tmp_path / "missing.toml")})
    assert message.startswith("VOUCHER_CONFIG") and "missing.toml" in message


def test_an_empty_variable_does_not_blank_the_file(tmp_path):
    write(tmp_path / "voucher.toml", 'timezone = "UTC"\n')
    assert load_settings({"VOUCHER_HOME": str(tmp_path), "VOUCHER_TIMEZONE": ""}).timezone == "UTC"


def test_dotted_keys_and_tables_are_the_same(tmp_path):
    write(tmp_path / "voucher.toml", 'throttle.window_seconds = 60\nbilling = { workers = 4 }\n')
    values, _ = effective_env({"VOUCHER_HOME": str(tmp_path)})
    assert values["VOUCHER_THROTTLE_WINDOW_SECONDS"] == "60" and values["VOUCHER_BILLING_WORKERS"] == "4"


def test_values_are_written_as_the_environment_would_write_them(tmp_path):
    write(tmp_path / "voucher.toml", 'demo = true\n[web]\ncookie_secure = false\ncanary_serials = ["0100000012", '
                                     '"0100000020"]\nrequest_read_seconds = 2.5\n'
                                     '[cost_control]\nlow_balance_warning = "50.00"\n')
    values, _ = effective_env({"VOUCHER_HOME": str(tmp_path)})
    assert values["VOUCHER_DEMO"] == "1" and values["VOUCHER_COOKIE_SECURE"] == "0"
    assert values["VOUCHER_CANARY_SERIALS"] == "0100000012,0100000020"
    assert values["VOUCHER_REQUEST_READ_SECONDS"] == "2.5" and values["VOUCHER_LOW_BALANCE_WARNING"] == "50.00"


@pytest.mark.parametrize(("text", "expected"), [
    ("[throttle]\nweb_ip_failure = 3\n", "unknown key 'throttle.web_ip_failure'"),
    ("[throttl]\nweb_ip_failures = 3\n", "unknown section 'throttl'"),
    ("colour = \"blue\"\n", "unknown key 'colour'"),
    ("[issuer]\ncode = \"7\"\n", "issuer.code must be an integer, got '7'"),
    ("[issuer]\ncode = 100\n", "issuer.code must be at most 99"),
    ("[billing]\ndue_days = -1\n", "billing.due_days must be at least 0"),
    ("[throttle]\nweb_ip_failures = 0\n", "throttle.web_ip_failures must be at least 1"),
    ("[throttle]\nweb_ip_failures = true\n", "throttle.web_ip_failures must be an integer"),
    ("demo = \"yes\"\n", "demo must be true or false"),
    ("timezone = \"Mars/Olympus\"\n", "timezone is not a known time zone"),
    ("[cost_control]\nlow_balance_warning = 30.5\n", "cost_control.low_balance_warning must be an amount"),
    ("[cost_control]\nlow_balance_warning = \"-1\"\n", "cost_control.low_balance_warning is not an amount"),
    ("[sms]\nlang = \"fr\"\n", "sms.lang must be one of zh, en"),
    ("[database]\nurl = 5\n", "database.url must be a string"),
    ("[keys]\npassphrase = \"a long secret phrase\"\n", "'keys.passphrase' is a secret"),
    ("[sms]\ntoken = \"t\"\n", "(set VOUCHER_SMS_TOKEN)"),
    ("[issuer\n", "not valid TOML"),
])
def test_a_bad_file_is_one_line_naming_the_file_and_the_key(tmp_path, text, expected):
    path = write(tmp_path / "voucher.toml", text)
    message = error({"VOUCHER_HOME": str(tmp_path)})
    assert message.startswith(f"{path}: ") and expected in message, message


def test_the_environment_keeps_its_own_messages(tmp_path):
    assert error({"VOUCHER_HOME": str(tmp_path), "VOUCHER_ISSUER_CODE": "x"}) == \
        "VOUCHER_ISSUER_CODE must be an integer, got 'x'"


def test_every_file_key_round_trips_its_documented_default_kind(tmp_path):
    """Each key the file accepts has a TOML spelling the loader knows (guards the table's kinds)."""
    samples = {"string": '"x"', "path": '"/tmp/x"', "integer": "5", "number": "5", "boolean": "true",
               "amount": '"5.00"', "timezone": '"UTC"', "list": "[]"}
    for key in KEYS:
        if key.toml is None or key.secret:
            continue
        value = f'"{key.choices[0]}"' if key.choices else samples[key.kind]
        if key.minimum is not None:
            value = str(key.minimum)
        write(tmp_path / "voucher.toml", f"{key.toml} = {value}\n")
        values, _ = effective_env({"VOUCHER_HOME": str(tmp_path)})
        assert key.env in values, key.toml
