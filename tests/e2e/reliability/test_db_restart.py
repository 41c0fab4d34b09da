"""A database restart (`pg_ctlcluster VERSION main` stop, start) while clients send requests: 503 + Retry-After (never 500),
no partial writes, and the app recovers by itself (pool pre-ping), without a restart of the app."""
from __future__ import annotations

import os
import subprocess
import threading
import time
from collections import Counter

import pytest
import requests
from sqlalchemy import event, func, select
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import Pool

from vouchers.storage.api_models import Redemption
from vouchers.storage.ledger_models import LedgerTransaction, Payment

from .conftest import post, voucherctl

# Restarts the PostgreSQL cluster: must not run beside other PostgreSQL tests (see scripts/test).
pytestmark = pytest.mark.exclusive

REDEEM, PAY = "/api/v1/redemptions", "/api/v1/payments"


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
    accounts = [f"32{i:08d}" for i in range(50)]
    _, batch = world.new_batch(cards, activate_count=cards)
    ops = [(REDEEM, "terminal", f"r-{i}", {"code": c.code, "account_no": accounts[i % 50]}) for i, c in enumerate(batch)]
    ops += [(PAY, "channel", f"p-{i}", {"account_no": accounts[i % 50], "amount": "2.50", "external_ref": f"dbr-{i}"})
            for i in range(payments)]
    server = fleet.start(world, workers=2, threads=4, VOUCHER_IDEMPOTENCY_STALE_SECONDS="10",
                         VOUCHER_THROTTLE_CLIENT_FAILURES="100000", VOUCHER_THROTTLE_ACCOUNT_FAILURES="100000")
    seen: Counter[int] = Counter()
    missing_retry_after: list[int] = []
    final: dict[str, tuple[int, bytes]] = {}
    lock = threading.Lock()
    deadline = time.monotonic() + 180
    # Half of each thread's requests wait until the database is down, so the restart always falls inside the
    # load (on a quiet machine the 80 requests could otherwise all be answered before the server stopped).
    database_down = threading.Event()

    def drive(mine) -> None:
        with requests.Session() as http:
            for n, (path, who, idem, body) in enumerate(mine):
                if n == len(mine) // 2:
                    database_down.wait(60)
                while True:
                    assert time.monotonic() < deadline
                    a = post(http, server.url + path, world.keys[who], idem, body)  # the app stays up: no exceptions
                    with lock:
                        seen[a.status] += 1
                        if a.status in (429, 503, 409) and "Retry-After" not in a.headers:
                            missing_retry_after.append(a.status)
                    if a.status in (409, 503):
                        time.sleep(0.2)
                        continue
                    final[idem] = (a.status, a.body)
                    break
                time.sleep(0.02)  # keep the load going across the restart

    _ping_on_checkout()
    threads = [threading.Thread(target=drive, args=(ops[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    try:
        for n in range(restarts):
            time.sleep(0.8)
            assert any(t.is_alive() for t in threads), "load finished before the restart"
            subprocess.run(_cluster("stop"), check=True, capture_output=True, timeout=120)
            database_down.set()
            time.sleep(0.5)  # requests meet a stopped database (503), then it comes back
            subprocess.run(_cluster("start"), check=True, capture_output=True, timeout=120)
    finally:
        _ensure_up()
    for t in threads:
        t.join(200)
    world.engine.dispose()  # the test's own pool saw the restart too

    assert seen[500] == 0 and not [s for s in seen if s >= 500 and s != 503], seen
    assert seen[503] > 0, f"the restart was never noticed: {seen}"
    assert not missing_retry_after, missing_retry_after
    assert len(final) == len(ops), f"{len(ops) - len(final)} requests never got an answer (see the thread errors)"
    assert {s for s, _ in final.values()} == {201}, Counter(s for s, _ in final.values())
    # no partial writes: what was answered is booked exactly once and nothing else
    with world.sessions.begin() as s:
        assert s.execute(select(func.count()).select_from(Redemption)).scalar_one() == cards
        assert s.execute(select(func.count()).select_from(LedgerTransaction)
                         .where(LedgerTransaction.kind == "redemption")).scalar_one() == cards
        assert s.execute(select(func.count()).select_from(Payment)
                         .where(Payment.channel == "alipay")).scalar_one() == payments
    assert sum(world.balance(a)[0] for a in accounts) == cards * 10000 + payments * 250
    verify = voucherctl(server.env, "ledger", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    # the same app (never restarted) answers at once
    assert server.proc.poll() is None
    health = requests.get(server.url + "/healthz", timeout=10)
    assert health.status_code == 200 and health.json()["database"] == "ok"
    a = post(requests.Session(), server.url + PAY, world.keys["channel"], "after",
             {"account_no": accounts[0], "amount": "1.00", "external_ref": "after-restart"})
    assert a.status == 201, a.body



@pytest.mark.postgres
def test_database_restart_under_load_gives_503_never_500_and_the_app_recovers(pg_world, fleet):
    _restart_run(pg_world, fleet, cards=40, payments=40, restarts=1)


@pytest.mark.postgres
@pytest.mark.slow
def test_soak_database_restarts_under_load(pg_world, fleet):
    _restart_run(pg_world, fleet, cards=300, payments=300, restarts=4)
