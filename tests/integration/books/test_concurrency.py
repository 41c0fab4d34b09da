"""16 threads paying and redeeming onto the same accounts: exact balances, no deadlock.

Runs on PostgreSQL (row locks, real parallelism) and on SQLite (one writer at
a time). Services are called without any retry wrapper: a deadlock or
serialization failure would reach the caller and fail the test.
"""
from __future__ import annotations

import datetime as dt
import random
import threading
from collections import Counter

from sqlalchemy import func, select

from vouchers.books import chart, customers, payments, voucher_books
from vouchers.books.accounts import balance, normal_balance
from vouchers.books.verify import verify
from vouchers.storage.db import make_engine, session_factory
from vouchers.storage.models import Voucher

THREADS = 16
OPS_PER_THREAD = 12
ACCOUNTS = ("0101", "0102", "0103")


def test_parallel_payments_and_redemptions_keep_exact_balances(db_url, now, stock):
    batch = stock(count=THREADS * OPS_PER_THREAD, face_value=1000)
    unsold = stock(count=THREADS * OPS_PER_THREAD, face_value=2000)  # sold card by card while the rest runs
    engine = make_engine(db_url, pool_size=THREADS)
    factory = session_factory(engine)
    with factory.begin() as s:
        for i, no in enumerate(ACCOUNTS):
            customers.create_customer(s, no, f"customer {i}", arrears=2500 * (i + 1),
                                      arrears_due=dt.date(2026, 10, 1), now=now)
        voucher_books.activate(s, batch.batch_id, "D1", now=now, actor="D1")
        ids = list(s.execute(select(Voucher.id).where(Voucher.batch_pk == batch.pk).order_by(Voucher.id)).scalars())
    expected: Counter[str] = Counter()
    lock = threading.Lock()
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def worker(n: int) -> None:
        rng = random.Random(n)
        try:
            start.wait()
            for op in range(OPS_PER_THREAD):
                account_no = rng.choice(ACCOUNTS)
                if op % 4 == 3:  # a sale (audit event + liability) racing the redemptions
                    serial = unsold.serial(n * OPS_PER_THREAD + op + 1)
                    with factory.begin() as s:
                        voucher_books.activate(s, unsold.batch_id, f"D{n % 3}", serial, serial, now=now,
                                               actor="till")
                    continue
                if op % 2:
                    vid = ids[n * OPS_PER_THREAD + op]
                    with factory.begin() as s:
                        booking = voucher_books.redeem(s, vid, account_no, today=now.date(), now=now,
                                                       actor="terminal")
                    amount = booking.amount
                else:
                    amount = rng.randint(1, 5000)
                    ref = f"T{n}-{op}"
                    with factory.begin() as s:
                        payments.post_payment(s, "pos_card", account_no, amount, ref, now, now)
                    # a channel retrying the same payment from another thread's point of view
                    with factory.begin() as s:
                        again = payments.post_payment(s, "pos_card", account_no, amount, ref, now, now)
                        assert not again.created
                    with lock:
                        expected["pos_card"] += amount
                with lock:
                    expected[account_no] += amount
        except BaseException as e:  # noqa: BLE001 - collected and re-raised in the main thread
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    engine.dispose()
    assert not errors, errors[:3]
    with factory.begin() as s:
        redeemed = s.execute(select(func.count()).where(Voucher.status == "redeemed")).scalar_one()
        sold = s.execute(select(func.count()).where(Voucher.batch_pk == unsold.pk, Voucher.status == "active")
                         ).scalar_one()
        assert (redeemed, sold) == (THREADS * OPS_PER_THREAD // 4, THREADS * OPS_PER_THREAD // 4)
        for i, no in enumerate(ACCOUNTS):
            summary = customers.customer_summary(s, no)
            opening = 2500 * (i + 1)
            assert summary.balance - summary.arrears == expected[no] - opening
        assert balance(s, chart.clearing("pos_card"), "CNY") == expected["pos_card"]
        assert normal_balance(s, chart.VOUCHER_LIABILITY, "CNY") == \
            (THREADS * OPS_PER_THREAD - redeemed) * 1000 + sold * 2000
        report = verify(s)
        assert report.ok, report.problems
