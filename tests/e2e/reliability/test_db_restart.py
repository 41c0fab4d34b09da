"""A database restart (`pg_ctlcluster VERSION main` stop, start) while clients send requests: 503 + Retry-After (never 500),
no partial writes, and the app recovers by itself (pool pre-ping), without a restart of the app."""
from __future__ import annotations

import os
import subprocess
import threading
import time

import pytest
import requests
from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import Pool

from . import load
from .conftest import post

# Restarts the PostgreSQL cluster: must not run beside other PostgreSQL tests (see scripts/test).
pytestmark = pytest.mark.exclusive


def _cluster(action: str) -> list[str]:
    """``pg_ctlcluster VERSION main ACTION`` for the installed version, chosen as scripts/test does
    (``ls /etc/postgresql | head -1``); read when the test runs, so collecting this file needs no PostgreSQL."""
    return ["pg_ctlcluster", sorted(os.listdir("/etc/postgresql"))[0], "main", action]


def _pg_ready() -> bool:
    return subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", "5432"], capture_output=True, check=False).returncode == 0


def _ensure_up() -> None:
    deadline = time.monotonic() + 60
    while not _pg_ready():
        subprocess.run(_cluster("start"), capture_output=True, check=False)
        assert time.monotonic() < deadline, "PostgreSQL did not come back"
        time.sleep(0.5)


_pinging = False


def _ping_on_checkout() -> None:
    """The session's admin engine (tests/conftest.py) has no pre-ping; after a server restart its pooled
    connection is dead and the teardown's DROP DATABASE would fail. Ping every PostgreSQL checkout instead."""
    global _pinging
    if _pinging:
        return
    _pinging = True

    @event.listens_for(Pool, "checkout")
    def _ping(dbapi_conn, _record, _proxy):  # pragma: no cover - glue
        if type(dbapi_conn).__module__.split(".")[0] != "psycopg":
            return
        try:
            with dbapi_conn.cursor() as cursor:
                cursor.execute("SELECT 1")
            if not dbapi_conn.autocommit:
                dbapi_conn.rollback()
        except Exception as e:
            raise DisconnectionError() from e


def _restart_run(world, fleet, *, cards: int, payments: int, restarts: int) -> None:
    server = fleet.start(world, workers=2, threads=4, VOUCHER_IDEMPOTENCY_STALE_SECONDS="10",
                         VOUCHER_THROTTLE_CLIENT_FAILURES="100000", VOUCHER_THROTTLE_ACCOUNT_FAILURES="100000")

    def restart(database_down: threading.Event) -> None:
        try:
            for n in range(restarts):
                if n:
                    time.sleep(0.8)
                subprocess.run(_cluster("stop"), check=True, capture_output=True, timeout=120)
                database_down.set()
                time.sleep(0.5)  # requests meet a stopped database (503), then it comes back
                subprocess.run(_cluster("start"), check=True, capture_output=True, timeout=120)
        finally:
            _ensure_up()

    _ping_on_checkout()
    outcome = load.drive(world, server, cards=cards, payments=payments, disturb=restart, deadline_seconds=180)
    world.engine.dispose()  # the test's own pool saw the restart too
    outcome.assert_only_503_and_all_answered()
    # no partial writes: what was answered is booked exactly once and nothing else
    outcome.assert_books_hold_exactly_what_was_acknowledged(world, server.env)
    # the same app (never restarted) answers at once
    assert server.proc.poll() is None
    health = requests.get(server.url + "/healthz", timeout=10)
    assert health.status_code == 200 and health.json()["database"] == "ok"
    a = post(requests.Session(), server.url + load.PAY, world.keys["channel"], "after",
             {"account_no": load.ACCOUNTS[0], "amount": "1.00", "external_ref": "after-restart"})
    assert a.status == 201, a.body


@pytest.mark.postgres
def test_database_restart_under_load_gives_503_never_500_and_the_app_recovers(pg_world, fleet):
    _restart_run(pg_world, fleet, cards=40, payments=40, restarts=1)


@pytest.mark.postgres
@pytest.mark.slow
def test_soak_database_restarts_under_load(pg_world, fleet):
    _restart_run(pg_world, fleet, cards=300, payments=300, restarts=4)
