"""Limits over a real server: a chunked body over the limit (no Content-Length) is 413, and slow-loris
clients holding connections cannot take every worker thread: a normal request still completes in time.

Also covered elsewhere: Content-Length over the limit (tests/e2e/redeem_api/test_server.py::
test_the_server_speaks_the_contract), the batch size cap (tests/e2e/cli/test_issuance_cli.py), the import
line-length cap (test_import_crash.py::test_an_over_long_line_rejects_the_whole_file)."""
from __future__ import annotations

import socket
import threading
import time

import requests

from vouchers.storage.api_models import Redemption
from tests.integration.redeem_api.world import ACCOUNT_CLEAN, fresh_key

from .conftest import post


def test_a_chunked_body_over_the_limit_is_413_without_reading_it_all(sqlite_world, fleet):
    world = sqlite_world
    server = fleet.start(world, workers=1, threads=2, VOUCHER_MAX_BODY_BYTES="4096")

    def chunks():
        yield b'{"code": "' + world.cards[0].code.encode() + b'", "account_no": "' + ACCOUNT_CLEAN.encode() + b'", "x": "'
        for _ in range(64):
            yield b"y" * 1024
        yield b'"}'

    r = requests.post(server.url + "/api/v1/redemptions", data=chunks(), timeout=30,
                      headers={"Authorization": f"Bearer {world.keys['terminal']}", "Idempotency-Key": fresh_key(),
                               "Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large", r.text
    assert world.count(Redemption) == 0
    ok = post(requests.Session(), server.url + "/api/v1/redemptions", world.keys["terminal"], fresh_key(),
              {"code": world.cards[0].code, "account_no": ACCOUNT_CLEAN})
    assert ok.status == 201, ok.body


def _slow_loris(port: int, stop: threading.Event, opened: list[socket.socket], trickle: bool) -> None:
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    opened.append(s)
    try:
        if not trickle:  # connect and say nothing: gthread parks such sockets on its poller
            stop.wait(60)
            return
        s.sendall(b"POST /api/v1/redemptions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
        while not stop.is_set():  # one header byte now and then: never a complete request
            s.sendall(b"X")
            stop.wait(1)
    except OSError:
        pass  # the server gave up on us: that is the control working


def _normal_request_behind_slow_clients(world, fleet, slow_clients: int, trickle: bool) -> None:
    # a request has 2 s to arrive in full (VOUCHER_REQUEST_READ_SECONDS); --timeout 5 would kill a worker
    # whose main loop got stuck behind them
    server = fleet.start(world, workers=1, threads=2, extra_args=("--timeout", "5"),
                         VOUCHER_REQUEST_READ_SECONDS="2")
    stop, opened = threading.Event(), []
    threads = [threading.Thread(target=_slow_loris, args=(server.port, stop, opened, trickle), daemon=True)
               for _ in range(slow_clients)]
    for t in threads:
        t.start()
    time.sleep(1.5)  # every worker thread could be stuck on a slow client by now
    try:
        started = time.monotonic()
        a = post(requests.Session(), server.url + "/api/v1/redemptions", world.keys["terminal"], fresh_key(),
                 {"code": world.cards[0].code, "account_no": ACCOUNT_CLEAN}, timeout=15)
        elapsed = time.monotonic() - started
        assert a.status == 201, a.body
        # each slow client holds a thread for at most the read deadline (2 s; 0.25 s for silent ones):
        # ceil(slow clients / 2 threads) rounds of that, plus margin; without the control: never
        assert elapsed < 8, f"a normal request waited {elapsed:.1f}s behind slow clients"
    finally:
        stop.set()
        for s in opened:
            s.close()


def test_silent_connections_cannot_hold_every_worker(sqlite_world, fleet):
    """Many more idle connections than worker threads (1 x 2): a normal request is still served at once."""
    _normal_request_behind_slow_clients(sqlite_world, fleet, 24, trickle=False)


def test_trickling_header_clients_cannot_hold_every_worker(sqlite_world, fleet):
    """Clients that send a header byte a second are dropped at the request read deadline."""
    _normal_request_behind_slow_clients(sqlite_world, fleet, 4, trickle=True)
