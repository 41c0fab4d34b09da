"""/healthz, /metrics, /openapi.json, /docs, a database outage, and the app factory's checks."""
from __future__ import annotations

import re

import pytest
from sqlalchemy.engine import make_url

from redeem_api.state import EXTENSION
from vouchers.storage.db import make_engine
from vouchers.storage.migrate import upgrade_to_head
from tests.conftest import drop_pg_database, scratch_pg_database
from tests.integration.redeem_api.world import ACCOUNT_ARREARS, auth, build_world, fresh_key


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json()["status"] == "ok"


def test_metrics_count_redemptions_by_outcome_and_latency(client, world):
    client.post("/api/v1/redemptions", json={"code": world.cards[0].code, "account_no": ACCOUNT_ARREARS},
                headers=auth(world.keys["terminal"], "m1"))
    client.post("/api/v1/redemptions", json={"code": world.cards[0].code, "account_no": ACCOUNT_ARREARS},
                headers=auth(world.keys["terminal"], "m1"))
    client.post("/api/v1/redemptions", json={"code": world.cards[0].code, "account_no": ACCOUNT_ARREARS},
                headers=auth(world.keys["terminal"], "m2"))
    client.post("/api/v1/redemptions", json={"code": "1234", "account_no": ACCOUNT_ARREARS},
                headers=auth(world.keys["terminal"], "m3"))
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    body = response.get_data(as_text=True)
    assert 'voucher_redemptions_total{outcome="redeemed"} 1' in body
    assert 'voucher_redemptions_total{outcome="replayed"} 1' in body
    assert 'voucher_redemptions_total{outcome="invalid_voucher"} 1' in body
    assert 'voucher_redemptions_total{outcome="invalid_code_format"} 1' in body
    assert "# TYPE voucher_http_request_duration_seconds histogram" in body
    count = re.search(r'voucher_http_request_duration_seconds_count\{route="/api/v1/redemptions",method="POST"\} (\d+)',
                      body)
    assert count and int(count.group(1)) == 4
    inf = re.search(r'duration_seconds_bucket\{route="/api/v1/redemptions",method="POST",le="\+Inf"\} (\d+)', body)
    assert inf and int(inf.group(1)) == 4
    assert world.cards[0].code not in body


def test_unknown_methods_add_no_series_to_the_metrics(client):
    for i in range(5):
        assert client.open("/redeem", method=f"FOOBAR{i}").status_code == 405
    body = client.get("/metrics").get_data(as_text=True)
    assert "FOOBAR" not in body
    assert 'voucher_http_requests_total{route="unmatched",method="other",status="405"} 5' in body


def _spec_paths(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


def test_openapi_describes_every_route_and_error(app, client):
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.1")
    documented = {(m.upper(), p) for p, item in spec["paths"].items() for m in item}
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.rule.startswith("/console"):
            continue  # the staff console: pages behind a login for people (docs/console.md), not an API
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            served.add((method, _spec_paths(rule.rule)))
    assert served == documented
    for path, item in spec["paths"].items():
        for method, op in item.items():
            responses = op["responses"]
            assert "405" in responses or method == "post", (method, path)
            if op.get("security", spec["security"]):
                assert {"401", "403", "503"} <= set(responses), (method, path)
            if "requestBody" in op and path.startswith("/api"):
                assert {"400", "413", "415", "422"} <= set(responses), (method, path)
    codes_in_spec = set(spec["info"]["x-error-codes"])
    for code in ("invalid_voucher", "too_many_attempts", "idempotency_key_reused", "idempotency_in_flight",
                 "unauthorized", "forbidden", "service_unavailable", "payload_too_large", "malformed_json"):
        assert code in codes_in_spec


def test_docs_page_is_local(client):
    """Redoc (vendored, pinned) renders /openapi.json: every asset from this server, scripts as files only."""
    response = client.get("/docs")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert "Prepaid electricity voucher API" in html and 'data-spec-url="/openapi.json"' in html
    assert not re.search(r'(src|href)="(https?:)?//', html)
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert [attrs.strip() for attrs, _ in scripts] == ['src="/static/redoc/redoc.standalone.js"',
                                                        'src="/static/docs.js"']
    assert all(body.strip() == "" for _, body in scripts)  # no inline script
    assert "style=" not in html and "<style" not in html
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-eval" not in csp and "script-src 'self' 'unsafe-inline'" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    for asset in ("/static/redoc/redoc.standalone.js", "/static/docs.js", "/static/docs.css"):
        served = client.get(asset)
        assert served.status_code == 200, asset
        served.close()
    # the customer page keeps the strict policy: its one script (redeem.js, the QR fragment) same-origin only
    redeem_csp = client.get("/redeem").headers["Content-Security-Policy"]
    assert "script-src 'self';" in redeem_csp and "unsafe" not in redeem_csp


def test_create_app_refuses_an_uninitialised_database(world, tmp_path):
    from vouchers.config import ConfigError

    with pytest.raises(ConfigError, match="voucherctl init"):
        world.app(VOUCHER_DATABASE_URL=f"sqlite:///{tmp_path / 'empty.db'}")


def test_create_app_refuses_a_wrong_passphrase(world):
    from vouchers.keystore.errors import WrongPassphrase

    with pytest.raises(WrongPassphrase, match="VOUCHER_WEB_PASSPHRASE"):
        world.app(VOUCHER_WEB_PASSPHRASE="not the passphrase")


@pytest.mark.postgres
def test_database_outage_is_503_with_retry_after(tmp_path, now, request):
    """A real outage: the app's database disappears under it."""
    if request.config.getoption("--no-postgres"):
        pytest.skip("--no-postgres")
    with scratch_pg_database("voucher_outage") as url:
        engine = make_engine(url)
        upgrade_to_head(engine)
        engine.dispose()
        world = build_world(tmp_path, url, now)
        app = world.app()
        client = app.test_client()
        assert client.get("/healthz").status_code == 200
        world.engine.dispose()
        drop_pg_database(make_url(url).database)
        redeem = client.post("/api/v1/redemptions", json={"code": world.cards[0].code, "account_no": ACCOUNT_ARREARS},
                             headers=auth(world.keys["terminal"], fresh_key()))
        health = client.get("/healthz")
        account = client.get(f"/api/v1/accounts/{ACCOUNT_ARREARS}", headers=auth(world.keys["finance"]))
        for response in (redeem, health, account):
            assert response.status_code == 503, response.get_data()
            assert response.get_json()["error"]["code"] == "service_unavailable"
            assert int(response.headers["Retry-After"]) > 0
        page = client.get("/redeem")
        assert page.status_code == 200  # the form itself needs no database
        app.extensions[EXTENSION].engine.dispose()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_every_answer_has_a_request_id_in_its_header_error_body_and_log_line(client, world, caplog):
    """One id per request: taken from a sane X-Request-Id or made, echoed, in error bodies and the log line."""
    import logging

    caplog.set_level(logging.INFO, logger="redeem_api.requests")
    made = client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["X-Request-Id"])
    theirs = client.get("/healthz", headers={"X-Request-Id": "lb-7f3a:2026.12.07_1"})
    assert theirs.headers["X-Request-Id"] == "lb-7f3a:2026.12.07_1"
    for insane in ("x" * 129, "a b", "id\u00e9", "-leading-dash", "<script>", "", "a;b"):
        answer = client.get("/healthz", headers={"X-Request-Id": insane})
        assert re.fullmatch(r"[0-9a-f]{32}", answer.headers["X-Request-Id"]), insane
    refused = client.post("/api/v1/redemptions", json={"code": world.cards[0].code, "account_no": "1"},
                          headers={**auth(world.keys["terminal"] + "x", fresh_key()), "X-Request-Id": "req-42"})
    error = refused.get_json()["error"]
    assert refused.status_code == 401 and error["request_id"] == refused.headers["X-Request-Id"] == "req-42"
    missing = client.get("/no/such/route")
    assert missing.get_json()["error"]["request_id"] == missing.headers["X-Request-Id"]
    assert missing.headers["X-Content-Type-Options"] == "nosniff"
    lines = [r for r in caplog.records if r.name == "redeem_api.requests"]
    assert len(lines) == 3 + 7 + 1  # one a request
    line = next(r for r in lines if r.request_id == "req-42")
    assert (line.method, line.route, line.status) == ("POST", "/api/v1/redemptions", 401)
    assert isinstance(line.duration_ms, float) and line.duration_ms >= 0
    assert [r.route for r in lines][-1] == "unmatched"  # the rule, never the raw path
    assert not any(world.cards[0].code in r.getMessage() or world.keys["terminal"] in r.getMessage()
                   for r in caplog.records)
