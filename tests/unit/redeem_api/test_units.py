"""Pure parts of the API: keys, fingerprints, metrics, languages, config, OpenAPI, import direction."""
from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from redeem_api.config import ApiConfig, ThrottleLimits
from redeem_api.errors import ApiError, InvalidVoucher, TooManyAttempts
from redeem_api.http import parse_idempotency_key
from redeem_api.i18n import TEXT, pick_language
from redeem_api.metrics import Metrics
from redeem_api.openapi import error_codes, spec
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
    for code, (status, meaning) in error_codes().items():
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
        ("ip:10.0.0.1", 5), ("account:web:3100000001", 4)]  # the web's own account counter (issue 21)


# -- config ----------------------------------------------------------------------------------
def _settings(**env):
    return Settings.from_env({"VOUCHER_HOME": "/tmp/x", **env})


def test_config_defaults_and_overrides():
    config = ApiConfig.from_settings(_settings(), web_passphrase="p")
    assert config.max_body_bytes == 16384 and config.cookie_secure is True
    assert config.throttle.web_account_failures < config.throttle.account_failures  # per IP: NAT, see test_web_page
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
def _worker(directory: Path, code: str) -> None:
    """One gunicorn worker's worth of counting: a process in prometheus_client's multiprocess mode."""
    script = "from redeem_api.metrics import Metrics\nm = Metrics.for_process()\n" + code
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60,
                   env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)})


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_render_and_aggregate_across_workers(tmp_path):
    _worker(tmp_path, "m.count_redemption('redeemed')\nm.observe_request('/r', 'POST', 201, 0.004)")
    _worker(tmp_path, "m.count_redemption('redeemed')\nm.count_redemption('invalid_voucher')\n"
                      "m.observe_request('/r', 'POST', 201, 0.2)")
    text = Metrics(str(tmp_path)).render()  # the scrape, answered by a third process
    assert re.search(r'voucher_redemptions_total\{outcome="redeemed"\} 2\n', text)
    assert re.search(r'voucher_redemptions_total\{outcome="invalid_voucher"\} 1\n', text)
    assert re.search(r'voucher_redemptions_total\{outcome="throttled"\} 0\n', text)  # every outcome
    assert re.search(r'_bucket\{route="/r",method="POST",le="0.005"\} 1\n', text)
    assert re.search(r'_bucket\{route="/r",method="POST",le="0.25"\} 2\n', text)
    assert re.search(r'voucher_http_request_duration_seconds_count\{route="/r",method="POST"\} 2\n', text)
    for name, kind in (("voucher_redemptions_total", "counter"), ("voucher_http_requests_total", "counter"),
                       ("voucher_http_request_duration_seconds", "histogram")):
        assert f"# TYPE {name} {kind}\n" in text
    for line in text.splitlines():
        assert line.startswith("#") or re.fullmatch(r'[a-z_]+(\{[^}]*\})? [0-9.e+-]+', line), line
    assert "_created" not in text


def test_metrics_buckets_and_labels_are_the_contract():
    m = Metrics(None)
    m.observe_request("/r", "POST", 201, 0.3)
    samples = _samples(m.render())
    bounds = sorted(float(dict(labels)["le"]) for name, labels in samples
                    if name == "voucher_http_request_duration_seconds_bucket")
    assert bounds == [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, float("inf")]
    assert {name for name, _ in samples} == {
        "voucher_redemptions_total", "voucher_http_requests_total", "voucher_http_request_duration_seconds_bucket",
        "voucher_http_request_duration_seconds_sum", "voucher_http_request_duration_seconds_count"}
    assert samples[("voucher_http_requests_total", (("method", "POST"), ("route", "/r"), ("status", "201")))] == 1


def test_metrics_count_unknown_methods_as_other():
    m = Metrics(None)
    for i in range(50):
        m.observe_request("unmatched", f"FOOBAR{i}", 405, 0.001)
    m.observe_request("unmatched", "get", 405, 0.001)  # methods are case-sensitive: not GET
    m.observe_request("/r", "DELETE", 405, 0.001)
    text = m.render()
    assert re.search(r'voucher_http_requests_total\{route="unmatched",method="other",status="405"\} 51\n',
                     text)
    assert 'method="DELETE"' in text and "FOOBAR" not in text and 'method="get"' not in text


def test_metrics_read_back_exactly(tmp_path):
    """Large counts in full (1234567, not 1.234567e+06), sums with every digit, summed over workers."""
    _worker(tmp_path, "m.observe_request('/r', 'POST', 201, 0.1234567891234)")
    _worker(tmp_path, "m._redemptions.labels('redeemed').inc(1234567)\n"  # a busy second worker
                      "m._requests.labels('/r', 'POST', '201').inc(123456788)\n"
                      "m._latency.labels('/r', 'POST').observe(98765.4321)")
    samples = _samples(Metrics(str(tmp_path)).render())
    assert samples[("voucher_redemptions_total", (("outcome", "redeemed"),))] == 1234567
    assert samples[("voucher_http_requests_total", (("method", "POST"), ("route", "/r"), ("status", "201")))] \
        == 123456789
    assert samples[("voucher_http_request_duration_seconds_sum", (("method", "POST"), ("route", "/r")))] \
        == 0.1234567891234 + 98765.4321
    text = Metrics(str(tmp_path)).render()
    assert 'voucher_redemptions_total{outcome="redeemed"} 1234567\n' in text
    assert 'voucher_http_requests_total{route="/r",method="POST",status="201"} 123456789\n' in text
    assert 'voucher_http_request_duration_seconds_bucket{route="/r",method="POST",le="10"} 1\n' in text
    assert 'voucher_http_request_duration_seconds_count{route="/r",method="POST"} 2\n' in text
    assert "e+" not in text


def test_metrics_without_a_directory_are_per_process():
    m = Metrics(None)
    m.count_redemption("throttled")
    assert re.search(r'outcome="throttled"\} 1\n', m.render())
    assert 'outcome="throttled"} 0' in Metrics(None).render()  # another app in the process counts apart


def test_metrics_refuse_a_directory_named_after_the_import():
    code = ("import os, prometheus_client\nos.environ['PROMETHEUS_MULTIPROC_DIR'] = os.getcwd()\n"
            "from redeem_api.metrics import Metrics\ntry:\n    Metrics.for_process()\n"
            "except RuntimeError as e:\n    print(e)\n")
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert "set after prometheus_client was imported" in out.stdout, out.stderr


# -- OpenAPI -------------------------------------------------------------------------------------
def test_openapi_refs_resolve_and_document_is_json():
    document = spec()
    json.dumps(document)
    components = document["components"]

    def walk(node):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if ref:
                kind, _, name = ref.removeprefix("#/components/").partition("/")
                assert ref.startswith("#/components/") and kind in ("schemas", "responses"), ref
                assert name in components[kind], ref
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
    assert options["worker_class"] == "redeem_api.gunicorn_conf.BoundedThreadWorker" and options["threads"] == 4
    assert options["timeout"] == 30 and options["graceful_timeout"] == 30
    assert options["preload_app"] is False  # every worker builds its own engine after the fork
    assert options["accesslog"] is None
    assert gunicorn_options("0.0.0.0", 1, 1, 1, 10, True)["worker_class"] == "sync"


def test_serve_opens_no_gunicorn_control_socket():
    """gunicorn >= 25.1 puts one control socket per user at a fixed path: two servers on one machine
    (the benchmark's echo and API servers, a test's server) would fight over it."""
    from voucherctl.serve_cmd import gunicorn_options

    assert gunicorn_options("127.0.0.1", 8000, 2, 4, 30, False)["control_socket_disable"] is True
