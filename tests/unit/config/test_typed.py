"""Every setting is a typed field of ``Settings``: read from the file, overridden by the environment,
checked against its row of the key table, and never looked up by name outside ``vouchers.config``."""
from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import pytest

from vouchers.config import ConfigError, load_settings
from vouchers.config.keys import BY_ENV

ROOT = Path(__file__).parents[3]
PACKAGES = ("vouchers", "issuer", "print_templates", "redeem_api", "voucherctl")
# read by name on purpose, with the reason
BY_NAME_ON_PURPOSE = {
    "VOUCHER_DEBUG": "read while reporting any error, including a bad configuration file",
}

TOML = """
[database]
pool_size = 9
[redis]
prefix = "p:"
[tariffs]
dir = "/srv/tariffs"
[throttle]
window_seconds = 60
web_pow_bits = 20
sms_sender_failures = 2
[web]
max_body_bytes = 4096
canary_serials = ["0100000100000121"]
request_read_seconds = 2.5
metrics_dir = "/run/metrics"
cookie_secure = false
[idempotency]
stale_seconds = 30
retention_days = 3
[console]
idle_minutes = 5
absolute_hours = 2
[billing]
due_days = 10
[cost_control]
low_balance_warning = "50.00"
[fraud]
enabled = false
account_amount = "2000.00"
actions = ["velocity.account_cards=hold"]
[sms]
sink = "/tmp/sms.jsonl"
timeout_seconds = 3
lang = "en"
"""


def test_each_part_reads_its_typed_fields_from_the_file(tmp_path):
    (tmp_path / "voucher.toml").write_text(TOML, encoding="utf-8")
    s = load_settings({"VOUCHER_HOME": str(tmp_path), "VOUCHER_ACTOR": "clerk"})
    assert (s.db_pool_size, s.redis_prefix, s.tariff_dir, s.actor) == (9, "p:", Path("/srv/tariffs"), "clerk")
    assert (s.throttle.window_seconds, s.throttle.web_pow_bits, s.throttle.sms_sender_failures) == (60, 20, 2)
    assert s.throttle.client_failures == 20  # unset: the part's own default
    assert (s.web.max_body_bytes, s.web.canary_serials, s.web.request_read_seconds) == (4096, {"0100000100000121"}, 2.5)
    assert (s.web.metrics_dir, s.web.cookie_secure, s.web.idempotency_stale_seconds) == (Path("/run/metrics"), False, 30)
    assert s.idempotency_retention_days == 3
    assert (s.staff.idle, s.staff.absolute) == (dt.timedelta(minutes=5), dt.timedelta(hours=2))
    assert (s.metering.due_days, s.metering.warning_threshold_fen, s.metering.timezone) == (10, 5000, "Asia/Shanghai")
    assert (s.fraud.enabled, s.fraud.account_amount, dict(s.fraud.actions)) == (
        False, 200_000, {"velocity.account_cards": "hold"})
    assert (s.sms.sink, s.sms.timeout_seconds, s.sms.lang) == (Path("/tmp/sms.jsonl"), 3.0, "en")


def test_the_environment_overrides_the_file_field_by_field(tmp_path):
    (tmp_path / "voucher.toml").write_text(TOML, encoding="utf-8")
    s = load_settings({"VOUCHER_HOME": str(tmp_path), "VOUCHER_THROTTLE_WINDOW_SECONDS": "120",
                       "VOUCHER_FRAUD_ENABLED": "yes", "VOUCHER_SMS_TOKEN": "sekret-token", "VOUCHER_TIMEZONE": "UTC",
                       "VOUCHER_CONSOLE_IDLE_MINUTES": ""})
    assert (s.throttle.window_seconds, s.throttle.web_pow_bits) == (120, 20)
    assert s.fraud.enabled is True and s.sms.token == "sekret-token" and "sekret" not in repr(s)
    assert s.metering.timezone == "UTC"  # billing's local day follows the one business time zone
    assert s.staff.idle == dt.timedelta(minutes=5)  # an empty variable does not blank the file


@pytest.mark.parametrize(("env", "named"), [
    ({"VOUCHER_THROTTLE_WEB_POW_BITS": "33"}, "VOUCHER_THROTTLE_WEB_POW_BITS"),
    ({"VOUCHER_THROTTLE_CLIENT_LOOKUPS": "many"}, "VOUCHER_THROTTLE_CLIENT_LOOKUPS"),
    ({"VOUCHER_FRAUD_OPEN_HOUR": "24"}, "VOUCHER_FRAUD_OPEN_HOUR"),
    ({"VOUCHER_FRAUD_ENABLED": "perhaps"}, "VOUCHER_FRAUD_ENABLED"),
    ({"VOUCHER_FRAUD_ACTIONS": "velocity.account_cards=block"}, "VOUCHER_FRAUD_ACTIONS"),
    ({"VOUCHER_FRAUD_REVIEW_THRESHOLD": "1.234"}, "VOUCHER_FRAUD_REVIEW_THRESHOLD"),
    ({"VOUCHER_CONSOLE_ABSOLUTE_HOURS": "25"}, "VOUCHER_CONSOLE_ABSOLUTE_HOURS"),
    ({"VOUCHER_REQUEST_READ_SECONDS": "soon"}, "VOUCHER_REQUEST_READ_SECONDS"),
    ({"VOUCHER_REQUEST_READ_SECONDS": "0.5"}, "VOUCHER_REQUEST_READ_SECONDS"),
    ({"VOUCHER_SMS_LANG": "fr"}, "VOUCHER_SMS_LANG"),
    ({"VOUCHER_LOG_FORMAT": "xml"}, "VOUCHER_LOG_FORMAT"),
    ({"VOUCHER_DB_POOL_SIZE": "0"}, "VOUCHER_DB_POOL_SIZE"),
    ({"VOUCHER_IDEMPOTENCY_STALE_SECONDS": "5"}, "VOUCHER_IDEMPOTENCY_STALE_SECONDS"),
    ({"VOUCHER_BILLING_WORKERS": "17"}, "VOUCHER_BILLING_WORKERS"),
    ({"VOUCHER_CANARY_SERIALS": "0100000012,12"}, "VOUCHER_CANARY_SERIALS"),
    ({"VOUCHER_DEMO": "maybe"}, "VOUCHER_DEMO"),
])
def test_a_bad_variable_is_one_line_naming_it(tmp_path, env, named):
    with pytest.raises(ConfigError) as caught:
        load_settings({"VOUCHER_HOME": str(tmp_path), **env})
    assert named in str(caught.value) and "\n" not in str(caught.value)


def test_a_bad_file_value_of_a_part_names_the_file_key(tmp_path):
    (tmp_path / "voucher.toml").write_text("[fraud]\nopen_hour = 30\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="fraud.open_hour must be at most 23"):
        load_settings({"VOUCHER_HOME": str(tmp_path)})


def by_name_reads() -> dict[str, str]:
    """``VOUCHER_*`` names used as a lookup key (a call argument or a subscript that is exactly the name)
    outside vouchers/config: where code reads a setting by its name instead of a typed field."""
    found: dict[str, str] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.is_relative_to(ROOT / "vouchers" / "config"):
                continue
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                keys: list[ast.AST] = []
                if isinstance(node, ast.Call):
                    keys = [*node.args, *(k.value for k in node.keywords)]
                elif isinstance(node, ast.Subscript):
                    keys = [node.slice]
                for key in keys:
                    if isinstance(key, ast.Constant) and key.value in BY_ENV:
                        found.setdefault(key.value, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_no_setting_is_read_by_name_outside_the_typed_config():
    reads = {name: where for name, where in by_name_reads().items() if name not in BY_NAME_ON_PURPOSE}
    assert reads == {}, "give the setting a typed field in vouchers/config and pass it in"


def test_the_by_name_finder_sees_a_lookup(tmp_path):
    package = tmp_path / "vouchers" / "services"
    package.mkdir(parents=True)
    (package / "bad.py").write_text('def f(env):\n    return env.get("VOUCHER_SMS_LANG"), env["VOUCHER_CURRENCY"]\n')
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        assert by_name_reads() == {"VOUCHER_SMS_LANG": "vouchers/services/bad.py:2",
                                   "VOUCHER_CURRENCY": "vouchers/services/bad.py:2"}
    finally:
        ROOT = saved
