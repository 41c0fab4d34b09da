"""Pure parts of the API: keys, fingerprints, metrics, languages, config, OpenAPI, import direction."""
from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from redeem_api.config import ApiConfig, ThrottleLimits
from redeem_api.errors import ApiError, InvalidVoucher, TooManyAttempts
from redeem_api.http import parse_idempotency_key
from redeem_api.i18n import TEXT, pick_language
from redeem_api.metrics import Metrics
from redeem_api.openapi import ERROR_CODES, spec
from redeem_api.redemption import Attempt, check_code_format, limits_for
from vouchers.codes import generate_code, group_code
from vouchers.services import idempotency
from vouchers.services.clients import ClientInfo, split_key
from vouchers.config import ConfigError, Settings

PACKAGE = Path(__file__).resolve().parents[3] / "redeem_api"


# -- idempotency keys --------------------------------------------------------------------
@pytest.mark.parametrize("header,expected", [("abc", "abc"), ('"abc"', "abc"), ("  k-1  ", "k-1"),
                                             ("x" * 255, "x" * 255)])
def test_parse_key_accepts(header, expected):
    assert parse_idempotency_key(header) == expected


@pytest.mark.parametrize("header", [None, "", "   ", "x" * 256, "a b", "ключ", '""', "tab\tkey"])
def test_parse_key_refuses(header):
    with pytest.raises(ApiError) as info:
        parse_idempotency_key(header)
    assert info.value.status == 400


def test_fingerprint_ignores_key_order_but_not_content():
    secret = b"s" * 32
    a = idempotency.fingerprint(secret, "POST", "r", {"code": "1", "account_no": "2"})
    assert a == idempotency.fingerprint(secret, "POST", "r", {"account_no": "2", "code": "1"})
    assert a != idempotency.fingerprint(secret, "POST", "r", {"account_no": "2", "code": "3"})
    assert a != idempotency.fingerprint(secret, "POST", "other", {"account_no": "2", "code": "1"})
    assert a != idempotency.fingerprint(b"t" * 32, "POST", "r", {"account_no": "2", "code": "1"})
    assert "1" not in a[:0] and len(a) == 64


# -- API keys -----------------------------------------------------------------------------
def test_split_key():
    secret = "A" * 43
    assert split_key(f"c_0123456789abcdef.{secret}") == ("c_0123456789abcdef", secret)
    for bad in ("", "c_0123456789abcdef", f"c_0123456789abcdeg.{secret}", f"c_0123456789abcdef.{secret}x",
                f"c_0123456789abcdef.{secret[:-1]}!", f"c_0123456789abcdef.{secret}\n",
                f"c_0123456789abcdef\n.{secret}", None, 42, "x" * 500):
        assert split_key(bad) is None


def test_actor_names_the_client_not_the_key():
    assert ClientInfo(1, "c_1", "n", "terminal", None, None).actor == "api:c_1"


# -- errors --------------------------------------------------------------------------------
def test_error_bodies_are_stable():
    assert InvalidVoucher().body()["error"]["code"] == "invalid_voucher"
    too_many = TooManyAttempts(0.2)
    assert too_many.status == 429 and too_many.headers["Retry-After"] == "1"
    for code, (status, meaning) in ERROR_CODES.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]+", code) and 400 <= status <= 599 and meaning


# -- code format and limits ----------------------------------------------------------------
def _attempt(code, channel="terminal"):
    client = ClientInfo(1, "c_1", "n", "terminal", None, None) if channel == "terminal" else None
    return Attempt(code, "3100000001", channel, client, "10.0.0.1")


def test_check_code_format():
    code = generate_code()
    check_code_format(_attempt(group_code(code)))
    check_code_format(_attempt(code[:4] + "-" + code[4:]))
    check_code_format(_attempt("EV1:ABC"))  # verified later, in the transaction
    for bad in (code[:-1], code + "0", "１" * 20, "x" * 20, "' OR 1=1 --", "EV1:" + "A" * 2000):
        with pytest.raises(ApiError) as info:
            check_code_format(_attempt(bad))
        assert info.value.status == 422


def test_limits_are_per_client_and_account_for_terminals_and_per_ip_for_the_web():
    limits = ThrottleLimits(client_failures=20, account_failures=10, web_ip_failures=5, web_account_failures=4)
    assert [(lim.key, lim.max_failures) for lim in limits_for(_attempt("1"), limits)] == [
        ("client:c_1", 20), ("account:3100000001", 10)]
    assert [(lim.key, lim.max_failures) for lim in limits_for(_attempt("1", "web"), limits)] == [
        ("ip:10.0.0.1", 5), ("account:3100000001", 4)]


# -- config ----------------------------------------------------------------------------------
def _settings(**env):
    return Settings.from_env({"VOUCHER_HOME": "/tmp/x", **env})


def test_config_defaults_and_overrides():
    config = ApiConfig.from_settings(_settings(), web_passphrase="p")
    assert config.max_body_bytes == 16384 and config.cookie_secure is True
    assert config.throttle.web_ip_failures < config.throttle.client_failures
    config = ApiConfig.from_settings(_settings(VOUCHER_MAX_BODY_BYTES="4096", VOUCHER_COOKIE_SECURE="0",
                                               VOUCHER_THROTTLE_WINDOW_SECONDS="60"), web_passphrase="p")
    assert (config.max_body_bytes, config.cookie_secure, config.throttle.window_seconds) == (4096, False, 60)


@pytest.mark.parametrize("env", [{"VOUCHER_MAX_BODY_BYTES": "10"}, {"VOUCHER_COOKIE_SECURE": "maybe"},
                                 {"VOUCHER_THROTTLE_ACCOUNT_FAILURES": "-1"}, {"VOUCHER_CANARY_SERIALS": "1"}])
def test_config_errors(env):
    with pytest.raises(ConfigError):
        ApiConfig.from_settings(_settings(**env), web_passphrase="p")


def test_missing_passphrase_fails_outside_demo():
    from vouchers.keystore.errors import PassphraseMissing

    with pytest.raises(PassphraseMissing, match="VOUCHER_WEB_PASSPHRASE"):
        ApiConfig.from_settings(_settings())
    with pytest.raises(PassphraseMissing, match="VOUCHER_WEB_PASSPHRASE"):  # the issuer's is not what it reads
        ApiConfig.from_settings(_settings(VOUCHER_KEY_PASSPHRASE="issuer passphrase"))


# -- languages ---------------------------------------------------------------------------------
def test_languages():
    assert pick_language(None, None) == "zh"
    assert pick_language(None, "en-US,en;q=0.9") == "en"
    assert pick_language(None, "zh-CN,en;q=0.5") == "zh"
    assert pick_language("en", "zh-CN") == "en"
    assert pick_language("fr", None) == "zh"
    assert set(TEXT["zh"]) == set(TEXT["en"])


# -- metrics -----------------------------------------------------------------------------------
def test_metrics_render_and_aggregate_across_workers(tmp_path):
    a, b = Metrics(str(tmp_path), worker_name="1"), Metrics(str(tmp_path), worker_name="2")  # two workers
    a.count_redemption("redeemed")
    b.count_redemption("redeemed")
    b.count_redemption("invalid_voucher")
    a.observe_request("/r", "POST", 201, 0.004)
    b.observe_request("/r", "POST", 201, 0.2)
    b._maybe_flush(force=True)
    text = a.render()
    assert 'voucher_redemptions_total{outcome="redeemed"} 2' in text
    assert 'voucher_redemptions_total{outcome="invalid_voucher"} 1' in text
    assert 'voucher_http_request_duration_seconds_bucket{route="/r",method="POST",le="0.005"} 1' in text
    assert 'voucher_http_request_duration_seconds_bucket{route="/r",method="POST",le="0.25"} 2' in text
    assert 'voucher_http_request_duration_seconds_count{route="/r",method="POST"} 2' in text
    for line in text.splitlines():
        assert line.startswith("#") or re.fullmatch(r'[a-z_]+(\{[^}]*\})? [0-9.e+-]+', line), line


def test_metrics_count_unknown_methods_as_other():
    m = Metrics(None)
    for i in range(50):
        m.observe_request("unmatched", f"FOOBAR{i}", 405, 0.001)
    m.observe_request("unmatched", "get", 405, 0.001)  # methods are case-sensitive: not GET
    m.observe_request("/r", "DELETE", 405, 0.001)
    text = m.render()
    assert 'voucher_http_requests_total{route="unmatched",method="other",status="405"} 51' in text
    assert 'method="DELETE"' in text and "FOOBAR" not in text and 'method="get"' not in text


def test_metrics_render_numbers_exactly(tmp_path):
    """Large counts in full (1234567, not 1.23457e+06) and sums with every digit of the float."""
    m = Metrics(str(tmp_path), worker_name="1")
    m.observe_request("/r", "POST", 201, 0.1234567891234)
    other = {"counters": {"voucher_redemptions_total": [[[["outcome", "redeemed"]], 1234567]],
                          "voucher_http_requests_total": [[[["route", "/r"], ["method", "POST"], ["status", "201"]],
                                                           123456788]]},
             "hist": [[[["route", "/r"], ["method", "POST"]], [123456788] + [0] * 12 + [98765.4321]]]}
    (tmp_path / "worker-2.json").write_text(json.dumps(other), "utf-8")  # a busy second worker
    text = m.render()
    assert 'voucher_redemptions_total{outcome="redeemed"} 1234567\n' in text
    assert 'voucher_http_requests_total{route="/r",method="POST",status="201"} 123456789\n' in text
    assert 'voucher_http_request_duration_seconds_bucket{route="/r",method="POST",le="0.005"} 123456788\n' in text
    assert 'voucher_http_request_duration_seconds_count{route="/r",method="POST"} 123456789\n' in text
    (total,) = re.findall(r'duration_seconds_sum\{route="/r",method="POST"\} (\S+)', text)
    assert float(total) == 98765.4321 + 0.1234567891234 and len(total) > 12
    assert "e+" not in text


def test_metrics_without_a_directory_are_per_process():
    m = Metrics(None)
    m.count_redemption("throttled")
    assert 'outcome="throttled"} 1' in m.render()


# -- OpenAPI -------------------------------------------------------------------------------------
def test_openapi_refs_resolve_and_document_is_json():
    document = spec()
    json.dumps(document)
    schemas = document["components"]["schemas"]

    def walk(node):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if ref:
                assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas, ref
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    assert spec() is not spec()  # callers get copies


# -- package direction -----------------------------------------------------------------------------
def test_redeem_api_never_imports_issuer():
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in {"issuer", "voucherctl", "print_templates"}, (path, name)


def test_importing_the_app_loads_no_issuer_module():
    code = ("import sys, redeem_api.app, redeem_api.routes.web, vouchers.services.clients; "
            "bad = [m for m in sys.modules if m == 'issuer' or m.startswith('issuer.')]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# -- voucherctl serve --------------------------------------------------------------------------------
def test_serve_runs_one_worker_per_core_with_a_timeout():
    import os

    from voucherctl.serve_cmd import default_workers, gunicorn_options

    assert default_workers() == len(os.sched_getaffinity(0))
    options = gunicorn_options("127.0.0.1", 8000, default_workers(), 4, 30, False)
    assert options["bind"] == "127.0.0.1:8000" and options["workers"] == default_workers()
    assert options["worker_class"] == "gthread" and options["threads"] == 4
    assert options["timeout"] == 30 and options["graceful_timeout"] == 30
    assert options["preload_app"] is False  # every worker builds its own engine after the fork
    assert options["accesslog"] is None
    assert gunicorn_options("0.0.0.0", 1, 1, 1, 10, True)["worker_class"] == "sync"


def test_serve_opens_no_gunicorn_control_socket():
    """gunicorn >= 25.1 puts one control socket per user at a fixed path: two servers on one machine
    (the benchmark's echo and API servers, a test's server) would fight over it."""
    from voucherctl.serve_cmd import gunicorn_options

    assert gunicorn_options("127.0.0.1", 8000, 2, 4, 30, False)["control_socket_disable"] is True
