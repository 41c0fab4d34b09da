"""Acceptance against a real ``voucherctl serve`` (gunicorn, several worker processes)."""
from __future__ import annotations

import json
import re
import threading
import time

import pytest
import requests
from sqlalchemy import func, select

from vouchers.storage.api_models import Redemption
from vouchers.storage.ledger_models import LedgerPosting, LedgerTransaction
from vouchers.storage.models import Voucher
from tests.integration.redeem_api.world import ACCOUNT_ARREARS, ACCOUNT_CLEAN, fresh_key, without_request_id
from vouchers.codes import generate_code

URL = "/api/v1/redemptions"


def headers(key: str, idem: str | None = None) -> dict[str, str]:
    h = {"Authorization": f"Bearer {key}"}
    if idem:
        h["Idempotency-Key"] = idem
    return h


@pytest.mark.postgres
def test_fifty_concurrent_redemptions_of_one_code_give_exactly_one(pg_world, serve):
    world = pg_world
    server = serve(world, workers=3, threads=4, VOUCHER_THROTTLE_CLIENT_FAILURES="1000",
                   VOUCHER_THROTTLE_ACCOUNT_FAILURES="1000")
    card = world.cards[0]
    accounts = [f"32{i:08d}" for i in range(50)]
    barrier = threading.Barrier(50)
    results: list[tuple[int, bytes]] = []
    lock = threading.Lock()

    def fire(i: int) -> None:
        with requests.Session() as http:
            http.get(server.url + "/healthz", timeout=10)  # connect before the start line
            barrier.wait()
            r = http.post(server.url + URL, json={"code": card.code, "account_no": accounts[i]},
                          headers=headers(world.keys["terminal"], f"race-{i}"), timeout=60)
            with lock:
                results.append((r.status_code, r.content))

    threads = [threading.Thread(target=fire, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    statuses = sorted(s for s, _ in results)
    assert statuses == [201] + [422] * 49, statuses
    # the same invalid_voucher for all losers (each with its own request id)
    assert len({without_request_id(body) for s, body in results if s == 422}) == 1
    winner = next(body for s, body in results if s == 201)
    account = re.search(rb'"account_no":"(\d+)"', winner).group(1).decode()
    assert world.balance(account) == (10000, 0)  # credited once
    assert sum(world.balance(a)[0] for a in accounts) == 10000
    with world.sessions.begin() as s:
        voucher_id = s.execute(select(Voucher.id).where(Voucher.serial == card.serial)).scalar_one()
        txs = s.execute(select(LedgerTransaction.id).where(LedgerTransaction.kind == "redemption")).scalars().all()
        assert len(txs) == 1
        tx = s.execute(select(LedgerTransaction).where(LedgerTransaction.id == txs[0])).scalar_one()
        assert tx.external_ref == f"voucher:{voucher_id}"
        postings = s.execute(select(func.count()).select_from(LedgerPosting)
                             .where(LedgerPosting.transaction_id == txs[0])).scalar_one()
        assert postings == 2  # Dr liability, Cr prepaid (no arrears on these accounts)
        assert s.execute(select(func.count()).select_from(Redemption)).scalar_one() == 1
    # /metrics, answered by any worker, adds up every worker's counts
    time.sleep(1.5)
    metrics = requests.get(server.url + "/metrics", timeout=10).text
    assert 'voucher_redemptions_total{outcome="redeemed"} 1' in metrics
    assert 'voucher_redemptions_total{outcome="invalid_voucher"} 49' in metrics


def test_brute_force_is_locked_out_and_the_lockout_survives_a_restart(e2e_world, serve):
    world = e2e_world
    env = dict(VOUCHER_THROTTLE_CLIENT_FAILURES="5", VOUCHER_THROTTLE_ACCOUNT_FAILURES="1000",
               VOUCHER_THROTTLE_WINDOW_SECONDS="900")
    server = serve(world, workers=2, threads=2, **env)
    key = world.keys["terminal"]
    with requests.Session() as http:
        statuses = []
        for _ in range(8):
            r = http.post(server.url + URL, json={"code": generate_code(), "account_no": ACCOUNT_ARREARS},
                          headers=headers(key, fresh_key()), timeout=30)
            statuses.append(r.status_code)
        assert statuses == [422] * 5 + [429] * 3, statuses
        assert 0 < int(r.headers["Retry-After"]) <= 900
        assert r.json()["error"]["code"] == "too_many_attempts"
    server.stop()
    restarted = serve(world, workers=2, threads=2, **env)
    r = requests.post(restarted.url + URL, json={"code": world.cards[0].code, "account_no": ACCOUNT_ARREARS},
                      headers=headers(key, fresh_key()), timeout=30)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert world.count(Redemption) == 0
    # another terminal is not locked out
    r = requests.post(restarted.url + URL, json={"code": world.cards[0].code, "account_no": ACCOUNT_CLEAN},
                      headers=headers(world.keys["terminal2"], fresh_key()), timeout=30)
    assert r.status_code == 201, r.text


def test_the_server_speaks_the_contract(e2e_world, serve):
    world = e2e_world
    server = serve(world, workers=2, threads=2, VOUCHER_LOG_FORMAT="json")
    r = requests.post(server.url + URL, json={"code": world.cards[0].token, "account_no": ACCOUNT_ARREARS},
                      headers={**headers(world.keys["terminal"], "k-1"), "X-Request-Id": "till-7-0001"}, timeout=30)
    assert r.status_code == 201 and r.json()["balance"] == "70.00"
    assert r.headers["X-Request-Id"] == "till-7-0001"
    replay = requests.post(server.url + URL, json={"code": world.cards[0].token, "account_no": ACCOUNT_ARREARS},
                           headers=headers(world.keys["terminal"], "k-1"), timeout=30)
    assert replay.status_code == 201 and replay.content == r.content
    big = requests.post(server.url + URL, data=b"{" + b" " * 100_000 + b"}",
                        headers={**headers(world.keys["terminal"], "k-2"), "Content-Type": "application/json"},
                        timeout=30)
    assert big.status_code == 413 and big.json()["error"]["code"] == "payload_too_large"
    assert requests.get(server.url + "/openapi.json", timeout=10).json()["openapi"].startswith("3.1")
    keys = requests.get(server.url + "/api/v1/keys", headers=headers(world.keys["admin"]), timeout=10).json()
    assert keys == world.store.keyring().export()
    _gunicorns_own_refusals_are_json(server, world)
    _the_log_is_json_with_one_line_per_request(server)


def _gunicorns_own_refusals_are_json(server, world) -> None:
    """Red team: gunicorn answered a 9,000-character URL and a 10 KB header itself, in HTML, without the
    security headers. Now each is the API's JSON error (redeem_api.server_errors)."""
    import socket

    answers = {
        "uri_too_long": requests.get(server.url + "/api/v1/keys?pad=" + "a" * 9000, timeout=10),
        "headers_too_large": requests.post(server.url + URL, json={"code": "1", "account_no": ACCOUNT_ARREARS},
                                           headers=headers(world.keys["terminal"], "k" * 10_000), timeout=10),
    }
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
        raw.sendall(b"NOT A REQUEST LINE\r\n\r\n")
        received = b""
        while chunk := raw.recv(4096):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ") and b"Content-Type: application/json" in head
    assert json.loads(body)["error"]["code"] == "bad_request"
    statuses = {"uri_too_long": 414, "headers_too_large": 431}
    for code, answer in answers.items():
        assert answer.status_code == statuses[code], answer.text[:200]
        assert answer.headers["Content-Type"] == "application/json"
        assert answer.headers["X-Content-Type-Options"] == "nosniff" and answer.headers["X-Frame-Options"] == "DENY"
        assert answer.json()["error"]["code"] == code
        assert answer.json()["error"]["request_id"] == answer.headers["X-Request-Id"]


def _the_log_is_json_with_one_line_per_request(server) -> None:
    lines = [json.loads(line) for line in server.log_path.read_text("utf-8").splitlines() if line.strip()]
    requests_logged = [line for line in lines if line["logger"] == "redeem_api.requests"]
    first = next(line for line in requests_logged if line["request_id"] == "till-7-0001")
    assert (first["method"], first["route"], first["status"]) == ("POST", URL, 201) and first["duration_ms"] > 0
    assert {(line["route"], line["status"]) for line in requests_logged} >= {("unparsed", 414), ("unparsed", 431),
                                                                              ("unparsed", 400), (URL, 413)}
    assert any(line["logger"] == "gunicorn.error" for line in lines)  # gunicorn's own lines are JSON too


def test_a_gunicorn_run_by_hand_gets_the_same_configuration(e2e_world, serve):
    """Issue 22: JSON logs and gunicorn's refusals as JSON applied under `voucherctl serve` only. The
    configuration is now the module redeem_api.gunicorn_conf, which `serve` uses too (docs/api.md)."""
    world = e2e_world
    server = serve(world, gunicorn=["-c", "python:redeem_api.gunicorn_conf", "-w", "1",
                                    "redeem_api.app:create_app()"], VOUCHER_LOG_FORMAT="json")
    health = requests.get(server.url + "/healthz", headers={"X-Request-Id": "lb-probe-1"}, timeout=10)
    assert health.status_code == 200 and health.headers["X-Request-Id"] == "lb-probe-1"
    _gunicorns_own_refusals_are_json(server, world)  # 400 for a bad request line, 414, 431: JSON + headers
    lines = [json.loads(line) for line in server.log_path.read_text("utf-8").splitlines() if line.strip()]
    logged = {(line.get("request_id"), line.get("route"), line.get("status")) for line in lines
              if line["logger"] == "redeem_api.requests"}
    assert ("lb-probe-1", "/healthz", 200) in logged
    assert {(route, status) for _, route, status in logged} >= {("unparsed", 400), ("unparsed", 414),
                                                                 ("unparsed", 431)}
    booted = [line["message"] for line in lines if line["logger"] == "gunicorn.error"]  # gunicorn's lines: JSON too
    assert "Using worker: redeem_api.gunicorn_conf.BoundedThreadWorker" in booted, booted  # slow clients bounded


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_one_scrape_sums_two_workers_counts(e2e_world, serve, tmp_path):
    """Worker A is held by a half-sent request while worker B answers ten; then A answers its one.
    Whichever of them answers the scrape, the sum is eleven (sync workers: one request at a time)."""
    import socket

    metrics_dir = tmp_path / "metrics"
    server = serve(e2e_world, workers=2, threads=1, VOUCHER_METRICS_DIR=str(metrics_dir))
    before = _healthz_count(requests.get(server.url + "/metrics", timeout=10).text)
    held = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    try:
        held.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # not finished: its worker waits for the rest
        time.sleep(0.5)
        for _ in range(10):  # one connection each, so only the free worker can take them
            assert requests.get(server.url + "/healthz", headers={"Connection": "close"}, timeout=10).ok
        held.sendall(b"Connection: close\r\n\r\n")
        assert held.recv(4096).startswith(b"HTTP/1.1 200")
    finally:
        held.close()
    after = _healthz_count(requests.get(server.url + "/metrics", timeout=10).text)
    assert after - before == 11
    assert len(list(metrics_dir.glob("counter_*.db"))) >= 2  # the shared files, in the configured directory
    server.stop()
    assert not list(metrics_dir.glob("*.db"))  # cleared at exit: a next server starts from zero


def _healthz_count(text: str) -> int:
    found = re.search(r'voucher_http_requests_total\{route="/healthz",method="GET",status="200"\} (\d+)\n', text)
    return int(found.group(1)) if found else 0
