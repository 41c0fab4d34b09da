"""The Redis-backed throttle behind gunicorn: one lockout for every worker process.

The in-process tests build apps side by side; here a real ``voucherctl serve`` runs two workers with
``VOUCHER_REDIS_URL``. Which worker answers is made certain by stopping the other one (SIGSTOP) for a moment:
failures counted by one worker lock the client out at the other, the counters are in Redis (in the database
of the URL, under the configured prefix) and not in ``throttle_counters``.
"""
from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from vouchers.storage.api_models import Redemption, ThrottleCounter
from tests.conftest import sqlite_copy
from tests.integration.redeem_api.world import ACCOUNT_ARREARS, build_world, fresh_key
from tests.services import redis_or_skip
from vouchers.codes import generate_code

URL = "/api/v1/redemptions"
REDIS_DB = 1  # not the default database: the workers must use the URL's
LIMIT, WINDOW = 4, 900


@pytest.fixture
def world(tmp_path, now, sqlite_template):
    """SQLite is enough: the database plays no part in a Redis lockout (and must hold no counter)."""
    world = build_world(tmp_path, sqlite_copy(sqlite_template, tmp_path / "vouchers.db"), now)
    yield world
    world.engine.dispose()


@pytest.fixture
def redis_prefix():
    _, client = redis_or_skip(REDIS_DB)  # an error, not a skip, in CI
    prefix = f"test-e2e-{uuid.uuid4().hex}:"
    yield prefix, client
    for key in client.scan_iter(prefix + "*"):
        client.delete(key)
    client.close()


def _workers(master: int) -> list[int]:
    """The gunicorn workers: the master's child processes."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                children.append(int(entry.name))
    return sorted(children)


@contextmanager
def only(worker: int, workers: list[int]) -> Iterator[None]:
    """Only ``worker`` accepts connections meanwhile: the others are stopped (briefly: gunicorn's timeout)."""
    others = [w for w in workers if w != worker]
    for w in others:
        os.kill(w, signal.SIGSTOP)
    try:
        yield
    finally:
        for w in others:
            os.kill(w, signal.SIGCONT)


def redeem(server, world, code: str) -> requests.Response:
    # a new connection each time (no session): a kept-alive one would stay with the worker that accepted it
    return requests.post(server.url + URL, json={"code": code, "account_no": ACCOUNT_ARREARS},
                         headers={"Authorization": f"Bearer {world.keys['terminal']}",
                                  "Idempotency-Key": fresh_key(), "Connection": "close"}, timeout=20)


def test_a_lockout_counted_in_redis_holds_across_gunicorn_workers(world, serve, redis_prefix, tmp_path):
    prefix, client = redis_prefix
    server = serve(world, workers=2, threads=2, VOUCHER_REDIS_URL=f"redis://127.0.0.1:6379/{REDIS_DB}",
                   VOUCHER_REDIS_PREFIX=prefix, VOUCHER_THROTTLE_CLIENT_FAILURES=str(LIMIT),
                   VOUCHER_THROTTLE_ACCOUNT_FAILURES="1000", VOUCHER_THROTTLE_WINDOW_SECONDS=str(WINDOW))
    deadline = time.monotonic() + 20
    while len(workers := _workers(server.proc.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)  # gunicorn forks its workers after the master is up
    assert len(workers) == 2, workers
    first, second = workers
    client_key = f"{prefix}client:{world.client_ids['terminal']}"

    with only(first, workers):  # half the allowed failures at one worker...
        assert [redeem(server, world, generate_code()).status_code for _ in range(LIMIT // 2)] == [422] * 2
    assert client.get(client_key) == b"2"
    with only(second, workers):  # ...the rest at the other, which then refuses even a genuine code
        assert [redeem(server, world, generate_code()).status_code for _ in range(LIMIT // 2)] == [422] * 2
        locked = redeem(server, world, world.cards[0].code)
    assert locked.status_code == 429, locked.text
    assert locked.json()["error"]["code"] == "too_many_attempts"
    assert 0 < int(locked.headers["Retry-After"]) <= WINDOW
    with only(first, workers):  # the first worker, which saw only two failures, refuses too
        again = redeem(server, world, world.cards[0].code)
    assert again.status_code == 429 and 0 < int(again.headers["Retry-After"]) <= WINDOW

    # the counters are in Redis (the URL's database, with the window as expiry), none in the database
    assert client.get(client_key) == b"4"
    assert client.get(f"{prefix}account:{ACCOUNT_ARREARS}") == b"4"
    assert 0 < client.ttl(client_key) <= WINDOW
    assert world.count(ThrottleCounter) == 0
    assert world.count(Redemption) == 0
