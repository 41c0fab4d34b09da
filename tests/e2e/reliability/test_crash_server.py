"""SIGKILL the whole ``voucherctl serve`` (master and workers) mid-load; restart; retry with the same keys.

Twice at random moments of the load, and once at each of four points a random kill almost never hits
(armed through :mod:`tests.e2e.reliability.faults`): right before and right after the COMMIT of a
redemption and of a payment. Every request that got a 2xx is in the books exactly once, nothing else
is, every request's answer is that of a first execution (a request killed after its COMMIT gets its
stored response replayed, not a second run), ``ledger verify`` passes, and a replay of every answered
key returns the original body.
"""
from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass

import pytest
import requests
from sqlalchemy import func, select

from vouchers.storage.api_models import Redemption
from vouchers.storage.ledger_models import LedgerTransaction, Payment
from vouchers.storage.models import Voucher

from .conftest import Answer, post, voucherctl

REDEEM, PAY = "/api/v1/redemptions", "/api/v1/payments"
RETRYABLE = {409, 429, 502, 503, 504}


@dataclass
class Op:
    path: str
    key_name: str
    idem: str
    body: dict
    answer: Answer | None = None  # the first real answer
    retried: bool = False  # was sent again after an unanswered attempt


def _ops(world, cards, accounts, payments: int) -> list[Op]:
    ops = [Op(REDEEM, "terminal", f"r-{i}", {"code": c.code if i % 2 else c.token, "account_no": accounts[i % len(accounts)]})
           for i, c in enumerate(cards)]
    ops += [Op(PAY, "channel", f"p-{i}", {"account_no": accounts[(i * 7) % len(accounts)], "amount": f"{1 + i % 5}.25",
                                            "external_ref": f"crash-{i}"})
            for i in range(payments)]
    # interleave redemptions and payments
    return [op for pair in itertools.zip_longest(ops[:len(cards)], ops[len(cards):]) for op in pair if op]


def _drive(server_url: list[str], world, ops: list[Op], answered: list[int], lock: threading.Lock,
           deadline: float, failures: list[str]) -> None:
    try:
        _send_all(server_url, world, ops, answered, lock, deadline)
    except AssertionError as exc:
        failures.append(str(exc))


def _send_all(server_url: list[str], world, ops: list[Op], answered: list[int], lock: threading.Lock,
              deadline: float) -> None:
    with requests.Session() as http:
        for op in ops:
            while True:
                assert time.monotonic() < deadline, f"{op.idem} never answered"
                try:
                    a = post(http, server_url[0] + op.path, world.keys[op.key_name], op.idem, op.body, timeout=20)
                except requests.RequestException:
                    op.retried = True  # unanswered: the server died under us; retry with the same key
                    http.close()
                    time.sleep(0.2)
                    continue
                if a.status in RETRYABLE:
                    op.retried = True
                    time.sleep(0.3)
                    continue
                op.answer = a
                with lock:
                    answered[0] += 1
                break


# How each kill is made: "outside" = SIGKILL of the process group by the test at a random moment of the
# load; the others are armed through tests/e2e/reliability/faults.py and land exactly at that point of
# the next booking by that route (the server kills its own process group there).
OUTSIDE = "outside"
CI_KILLS = (OUTSIDE, "after-commit redemptions", "before-commit redemptions", "after-commit payments",
            "before-commit payments", OUTSIDE)


def _kill_at(fleet, server, how: str, kill_file, threads) -> None:
    if how == OUTSIDE:
        fleet.kill(server)  # master and every worker, mid-request
        return
    kill_file.write_text(how, "ascii")
    deadline = time.monotonic() + 60
    while server.proc.poll() is None:  # the next matching booking kills the server
        assert time.monotonic() < deadline, f"nothing reached the kill point {how!r}"
        assert any(t.is_alive() for t in threads), "load finished before the kill: raise the counts"
        time.sleep(0.005)
    assert not kill_file.exists(), "the server died, but not at the armed kill point"


def _crash_run(world, fleet, tmp_path, *, cards: int, payments: int, clients: int, kills: tuple[str, ...]) -> None:
    accounts = [f"32{i:08d}" for i in range(50)]
    _, batch = world.new_batch(cards, activate_count=cards)
    ops = _ops(world, batch, accounts, payments)
    kill_file = tmp_path / "kill-point"
    server = fleet.start(world, workers=3, threads=4, kill_file=kill_file, VOUCHER_IDEMPOTENCY_STALE_SECONDS="10",
                         VOUCHER_THROTTLE_CLIENT_FAILURES="100000", VOUCHER_THROTTLE_ACCOUNT_FAILURES="100000")
    url = [server.url]
    answered, lock, failures = [0], threading.Lock(), []
    deadline = time.monotonic() + 240
    threads = [threading.Thread(target=_drive, args=(url, world, ops[i::clients], answered, lock, deadline, failures))
               for i in range(clients)]
    for t in threads:
        t.start()
    kill_points = [len(ops) * (k + 1) // (len(kills) + 1) for k in range(len(kills))]
    for point, how in zip(kill_points, kills):
        while answered[0] < point and any(t.is_alive() for t in threads):
            time.sleep(0.005)
        assert not failures, failures
        assert any(t.is_alive() for t in threads), "load finished before the kill: raise the counts"
        _kill_at(fleet, server, how, kill_file, threads)
        server = fleet.restart(server)
    for t in threads:
        t.join(300)
    assert not failures, failures
    assert all(op.answer is not None for op in ops), fleet.logs()[-3000:]
    assert any(op.retried for op in ops), "no request was caught by a kill"

    # every answered request succeeded as a first execution would: a redemption 201, a payment 201 and
    # "created" (each reference is new: a 200 would mean the work ran again and found the first run)
    bad = [(op.idem, op.answer.status, op.answer.body[:200]) for op in ops
           if op.answer.status != 201 or (op.path == PAY and json.loads(op.answer.body)["created"] is not True)]
    assert not bad, bad
    # a request killed after its COMMIT was answered, when retried, by the replay of its stored response
    for path in (REDEEM, PAY):
        table = "redemptions" if path == REDEEM else "payments"
        after_commit = sum(1 for how in kills if how == f"after-commit {table}")
        replayed = [op.idem for op in ops if op.path == path and op.retried
                    and op.answer.headers.get("Idempotent-Replayed") == "true"]
        killed = [ln for ln in fleet.logs().splitlines() if "fault injection" in ln]  # names the killed keys
        assert len(replayed) >= after_commit, (table, replayed, killed)
    # the books: each 2xx exactly once, nothing else
    redemptions = [op for op in ops if op.path == REDEEM]
    pays = [op for op in ops if op.path == PAY]
    serials = {c.serial for c in batch}
    with world.sessions.begin() as s:
        assert s.execute(select(func.count()).select_from(Redemption)).scalar_one() == len(redemptions)
        assert s.execute(select(func.count()).select_from(LedgerTransaction)
                         .where(LedgerTransaction.kind == "redemption")).scalar_one() == len(redemptions)
        statuses = dict(s.execute(select(Voucher.serial, Voucher.status).where(Voucher.serial.in_(serials))).all())
        assert set(statuses.values()) == {"redeemed"}, statuses
        refs = s.execute(select(Payment.external_ref, func.count()).where(Payment.channel == "alipay")
                         .group_by(Payment.external_ref)).all()
        assert dict(refs) == {op.body["external_ref"]: 1 for op in pays}
    total_paid = sum(int(op.body["amount"].replace(".", "")) for op in pays)
    assert sum(world.balance(a)[0] for a in accounts) == cards * 10000 + total_paid
    verify = voucherctl(server.env, "ledger", "verify", "--json")
    assert verify.returncode == 0, verify.stdout + verify.stderr

    # every key answers with its original result; a retried one too (same body, marked replayed)
    with requests.Session() as http:
        for op in ops:
            again = post(http, url[0] + op.path, world.keys[op.key_name], op.idem, op.body)
            assert again.status == op.answer.status, (op.idem, again.status, again.body)
            assert again.body == op.answer.body, op.idem
            assert again.headers.get("Idempotent-Replayed") == "true"


@pytest.mark.postgres
def test_sigkill_the_server_twice_under_load_books_every_answer_exactly_once(pg_world, fleet, tmp_path):
    """Two kills at random moments, and one at each of the four armed points (before and after the
    COMMIT of a redemption and of a payment)."""
    _crash_run(pg_world, fleet, tmp_path, cards=90, payments=90, clients=4, kills=CI_KILLS)


@pytest.mark.postgres
@pytest.mark.slow
def test_soak_sigkill_the_server_many_times(pg_world, fleet, tmp_path):
    _crash_run(pg_world, fleet, tmp_path, cards=600, payments=600, clients=8, kills=CI_KILLS * 2 + (OUTSIDE,) * 4)
