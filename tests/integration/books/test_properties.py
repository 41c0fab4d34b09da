"""Random sequences of sales, redemptions, payments, bills, reversals, expiries and voids.

After every step, on SQLite and on PostgreSQL: every transaction sums to zero,
stored balances equal the sums of postings, voucher_liability equals the face
value of active cards, the liability roll-forward closes against the books,
and each customer's balance minus arrears equals a plain model of the money.
Every example starts from an empty database (a new SQLite file, or a
truncated PostgreSQL database) so failures replay and shrink deterministically.
"""
from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select, update

from vouchers.books import customers, distributors, payments, voucher_books
from vouchers.books.corrections import reverse_payment
from vouchers.books.errors import PaymentConflict, ReversalNotAllowed
from vouchers.books.reports.liability import liability_report, roll_forward
from vouchers.books.verify import verify
from vouchers.storage.models import Batch, Voucher

from vouchers.storage.db import make_engine, session_factory
from tests.conftest import _truncate_all, sqlite_copy

from .conftest import make_batch

EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
CHANNELS = ("alipay", "pos_card", "bank_debit", "counter_cash")
_serial = itertools.count(1)
factory = None  # the current example's session factory


def machine_for(fresh):
    class Books(RuleBasedStateMachine):
        accounts = Bundle("accounts")
        batches = Bundle("batches")

        def __init__(self) -> None:
            super().__init__()
            global factory
            factory = fresh()
            self.run = next(_serial)
            self.now = EPOCH
            self.net: dict[str, int] = {}  # account -> money in minus bills (the model)
            self.payments: list[tuple[str, str, int, int, str]] = []  # (channel, ref, amount, payment id, account)
            self.reversed: set[int] = set()

        def tick(self, seconds: int = 1) -> dt.datetime:
            self.now += dt.timedelta(seconds=seconds)
            return self.now

        @rule(target=accounts, arrears=st.integers(0, 8000))
        def open_account(self, arrears: int) -> str:
            no = f"R{self.run}-{len(self.net) + 1}"
            with factory.begin() as s:
                customers.create_customer(s, no, "客户", arrears=arrears, arrears_due=self.now.date(),
                                          now=self.tick())
            self.net[no] = -arrears
            return no

        @initialize(target=accounts, arrears=st.integers(0, 8000))
        def first_account(self, arrears: int) -> str:
            return self.open_account(arrears)

        @initialize(target=batches, count=st.integers(1, 6), face=st.sampled_from([1000, 5000, 10000]),
                    days=st.integers(1, 60), sold=st.integers(1, 6))
        def first_batch(self, count: int, face: int, days: int, sold: int) -> int:
            return self.new_batch(count, face, days, sold)

        @rule(target=batches, count=st.integers(1, 6), face=st.sampled_from([1000, 5000, 10000]),
              days=st.integers(1, 60), sold=st.integers(0, 6))
        def new_batch(self, count: int, face: int, days: int, sold: int) -> int:
            """New stock, of which the first ``sold`` cards are sold at once."""
            with factory.begin() as s:
                batch = make_batch(s, count=count, face_value=face, expires=(self.now + dt.timedelta(days=days)).date())
            if sold:
                self.activate(batch.pk, sold, "D1")
            return batch.pk

        @rule(batch=batches, take=st.integers(1, 4), distributor=st.sampled_from(["D1", "D2"]))
        def activate(self, batch: int, take: int, distributor: str) -> None:
            with factory.begin() as s:
                b = s.get(Batch, batch)
                inactive = list(s.execute(select(Voucher.serial).where(
                    Voucher.batch_pk == batch, Voucher.status == "inactive").order_by(Voucher.sequence)).scalars())
                if b.status != "approved" or not inactive:
                    return
                chosen = inactive[:take]
                voucher_books.activate(s, b.batch_id, distributor, chosen[0], chosen[-1], now=self.tick(),
                                       actor=distributor)

        @rule(distributor=st.sampled_from(["D1", "D2"]), bp=st.integers(0, 1000))
        def commission(self, distributor: str, bp: int) -> None:
            with factory.begin() as s:
                distributors.set_commission(s, distributor, bp, now=self.tick(), actor="marketing")

        @rule(account=accounts)
        def redeem(self, account: str) -> None:
            with factory.begin() as s:
                vid = s.execute(select(Voucher.id).where(Voucher.status == "active",
                                                         Voucher.expires >= self.now.date())
                                .order_by(Voucher.id).limit(1)).scalar()
                if vid is None:
                    return
                now = self.tick()
                assert voucher_books.claim_for_redemption(s, vid, today=now.date(), now=now)
                booking = voucher_books.redeem_voucher(s, vid, account, now=now)
            self.net[account] += booking.amount

        @rule(account=accounts, amount=st.integers(1, 20000), channel=st.sampled_from(CHANNELS))
        def pay(self, account: str, amount: int, channel: str) -> None:
            ref = f"P{self.run}-{len(self.payments) + 1}"
            with factory.begin() as s:
                result = payments.post_payment(s, channel, account, amount, ref, self.now, self.tick())
            self.payments.append((channel, ref, amount, result.payment_id, account))
            self.net[account] += amount

        @rule(data=st.data())
        def replay_or_conflict(self, data) -> None:
            if not self.payments:
                return
            channel, ref, amount, pid, owner = data.draw(st.sampled_from(self.payments))
            account = data.draw(st.sampled_from(sorted(self.net)))
            other = data.draw(st.sampled_from([amount, amount + 1]))
            replay = pid not in self.reversed and other == amount and account == owner
            with factory.begin() as s:
                try:
                    result = payments.post_payment(s, channel, account, other, ref, self.now, self.tick())
                except PaymentConflict:
                    assert not replay
                else:
                    assert replay and result.payment_id == pid and not result.created

        @rule(data=st.data())
        def reverse_payment(self, data) -> None:
            if not self.payments:
                return
            channel, ref, amount, pid, account = data.draw(st.sampled_from(self.payments))
            with factory.begin() as s:
                try:
                    reverse_payment(s, pid, now=self.tick(), actor="finance", reason="test")
                except ReversalNotAllowed:
                    assert pid in self.reversed
                    return
            assert pid not in self.reversed
            self.reversed.add(pid)
            self.net[account] -= amount

        @rule(account=accounts, amount=st.integers(1, 9000))
        def bill(self, account: str, amount: int) -> None:
            with factory.begin() as s:
                customers.issue_bill(s, account, amount, due_date=self.now.date(), bill_ref=f"B{self.tick().timestamp():.0f}",
                                     now=self.now)
            self.net[account] -= amount

        @rule(days=st.integers(1, 45))
        def time_passes_and_cards_expire(self, days: int) -> None:
            now = self.tick(days * 86400)
            with factory.begin() as s:
                voucher_books.expire_vouchers(s, now.date(), now)

        @rule(batch=batches)
        def void(self, batch: int) -> None:
            with factory.begin() as s:
                b = s.get(Batch, batch)
                if b.status == "void":
                    return
                voucher_books.reverse_liability_for_void(s, batch, self.tick(), actor="ops")
                s.execute(update(Voucher).where(Voucher.batch_pk == batch,
                                                Voucher.status.in_(("inactive", "active"))).values(status="void"))
                b.status = "void"

        @invariant()
        def books_balance(self) -> None:
            with factory.begin() as s:
                report = verify(s)
                assert report.ok, report.problems
                end = self.now + dt.timedelta(seconds=1)
                rf = roll_forward(s, EPOCH, end, "CNY")
                assert rf.closes, rf
                liability = liability_report(s, as_of=end, currency="CNY", last_valid_day=end.date())
                assert liability.total == liability.ledger_balance == rf.closing.amount
                for no, net in self.net.items():
                    summary = customers.customer_summary(s, no)
                    assert summary.balance - summary.arrears == net, no

    return Books


@pytest.fixture
def fresh_books(db_url, tmp_path, sqlite_template):
    """A callable returning a session factory on an empty, migrated database."""
    engines = []

    def fresh():
        if db_url.startswith("sqlite"):
            engine = make_engine(sqlite_copy(sqlite_template, tmp_path / f"books-{len(engines)}.db"))
        else:
            engine = make_engine(db_url)
            _truncate_all(engine)
        engines.append(engine)
        return session_factory(engine)

    yield fresh
    for engine in engines:
        engine.dispose()


@pytest.mark.parametrize("examples", [12])
def test_random_histories_keep_the_books_balanced(fresh_books, examples):
    run_state_machine_as_test(machine_for(fresh_books), settings=settings(
        max_examples=examples, stateful_step_count=20, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
