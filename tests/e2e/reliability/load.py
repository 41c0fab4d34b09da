"""Redemptions and payments driven at a real server while something breaks underneath it, and the checks
afterwards: every request answered, 503 + Retry-After (never another 5xx) while the database is away, and
the books holding exactly what was acknowledged.

Shared by the database-restart test and the failover drill (the same clients, another disturbance).
"""
from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import requests
from sqlalchemy import func, select

from vouchers.storage.api_models import Redemption
from vouchers.storage.ledger_models import LedgerTransaction, Payment

from .conftest import post, voucherctl

REDEEM, PAY = "/api/v1/redemptions", "/api/v1/payments"
ACCOUNTS = [f"32{i:08d}" for i in range(50)]  # build_world(..., accounts=50)


@dataclass
class Outcome:
    ops: int
    cards: int
    payments: int
    seen: Counter[int] = field(default_factory=Counter)
    missing_retry_after: list[int] = field(default_factory=list)
    final: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    first_success_after: dict[str, float] = field(default_factory=dict)  # path -> monotonic time of the first
    # new booking after the disturbance (a replay of a request committed before it does not count)

    def assert_only_503_and_all_answered(self) -> None:
        seen = self.seen
        assert seen[500] == 0 and not [s for s in seen if s >= 500 and s != 503], seen
        assert seen[503] > 0, f"the disturbance was never noticed: {seen}"
        assert not self.missing_retry_after, self.missing_retry_after
        assert len(self.final) == self.ops, f"{self.ops - len(self.final)} requests never got an answer"
        assert {s for s, _ in self.final.values()} == {201}, Counter(s for s, _ in self.final.values())

    def assert_books_hold_exactly_what_was_acknowledged(self, world, env: dict[str, str]) -> None:
        with world.sessions.begin() as s:
            assert s.execute(select(func.count()).select_from(Redemption)).scalar_one() == self.cards
            assert s.execute(select(func.count()).select_from(LedgerTransaction)
                             .where(LedgerTransaction.kind == "redemption")).scalar_one() == self.cards
            assert s.execute(select(func.count()).select_from(Payment)
                             .where(Payment.channel == "alipay")).scalar_one() == self.payments
        assert sum(world.balance(a)[0] for a in ACCOUNTS) == self.cards * 10000 + self.payments * 250
        for check in (("ledger", "verify"), ("audit", "verify")):
            done = voucherctl(env, *check)
            assert done.returncode == 0, done.stdout + done.stderr


def drive(world, server, *, cards: int, payments: int, disturb: Callable[[threading.Event], None],
          threads: int = 4, deadline_seconds: float = 240, prefix: str = "") -> Outcome:
    """Send ``cards`` redemptions and ``payments`` payments from ``threads`` clients, each retrying 409/503
    with the same Idempotency-Key; half of each client's requests wait until ``disturb`` sets its event (so the
    disturbance always falls inside the load). ``disturb`` runs in this thread and returns when it is over."""
    _, batch = world.new_batch(cards, activate_count=cards)
    redemptions = [(REDEEM, "terminal", f"{prefix}r-{i}", {"code": c.code, "account_no": ACCOUNTS[i % 50]})
                   for i, c in enumerate(batch)]
    payment_ops = [(PAY, "channel", f"{prefix}p-{i}", {"account_no": ACCOUNTS[i % 50], "amount": "2.50",
                                                       "external_ref": f"{prefix}ext-{i}"}) for i in range(payments)]
    # interleaved, so that every client has both kinds before and after the disturbance
    ops = [op for pair in zip(redemptions, payment_ops) for op in pair]
    ops += redemptions[len(payment_ops):] + payment_ops[len(redemptions):]
    outcome = Outcome(len(ops), cards, payments)
    lock = threading.Lock()
    deadline = time.monotonic() + deadline_seconds
    disturbed = threading.Event()
    errors: list[BaseException] = []

    def client(mine) -> None:
        try:
            with requests.Session() as http:
                for n, (path, who, idem, body) in enumerate(mine):
                    if n == len(mine) // 2:
                        disturbed.wait(120)
                    while True:
                        assert time.monotonic() < deadline, "the load did not finish in time"
                        a = post(http, server.url + path, world.keys[who], idem, body, timeout=120)
                        with lock:
                            outcome.seen[a.status] += 1
                            if a.status in (429, 503, 409) and "Retry-After" not in a.headers:
                                outcome.missing_retry_after.append(a.status)
                            replayed = any(k.lower() == "idempotent-replayed" for k in a.headers)
                            if a.status < 300 and not replayed and disturbed.is_set():  # a new booking
                                outcome.first_success_after.setdefault(path, time.monotonic())
                        if a.status in (409, 503):
                            time.sleep(0.2)
                            continue
                        outcome.final[idem] = (a.status, a.body)
                        break
                    time.sleep(0.02)  # keep the load going across the disturbance
        except BaseException as e:  # reported by the caller's thread
            errors.append(e)
            raise

    workers = [threading.Thread(target=client, args=(ops[i::threads],)) for i in range(threads)]
    for t in workers:
        t.start()
    try:
        time.sleep(0.8)
        assert any(t.is_alive() for t in workers), "load finished before the disturbance"
        disturb(disturbed)
    finally:
        disturbed.set()
        for t in workers:
            t.join(deadline_seconds)
    assert not errors, errors
    return outcome
