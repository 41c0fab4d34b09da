"""The billing run: one bill per account per period, posted to the books, nothing half-posted."""
from __future__ import annotations

import dataclasses
import datetime as dt
import threading

import pytest
from sqlalchemy import func, select

from vouchers.books import chart
from vouchers.books.accounts import balance
from vouchers.books.verify import verify
from vouchers.metering import billing
from vouchers.metering import positions as pos
from vouchers.metering.errors import InvalidPeriod
from vouchers.metering.pricing import ReadingUse, Terms, compute_bill
from vouchers.storage.ledger_models import CustomerBill, LedgerPosting, LedgerTransaction
from vouchers.storage.metering_models import BillingException, BillingRun, MeteringBill
from vouchers.tariffs import Catalog
from tests.integration.metering.conftest import World, at, yuan


def _verify(world: World) -> None:
    with world.sessions.begin() as s:
        report = verify(s, today=dt.date(2030, 1, 1))
    assert report.ok, report.problems


def _revenue(world: World) -> int:
    with world.sessions.begin() as s:
        return -balance(s, chart.REVENUE, "CNY")


def _population(world: World, n: int = 7) -> list[str]:
    accounts = []
    for i in range(n):
        no = f"C{i:03d}"
        world.customer(no, tariff="jx-residential" if i % 2 else "fj-residential",
                       mode="prepaid" if i % 3 == 0 else "postpaid", opening=("2026-10-01", "0"))
        accounts.append(no)
    for i, no in enumerate(accounts):
        if i % 3 == 0:
            world.pay(no, f"{40 * i + 10}.00", "2026-10-02")
    world.read_many([(no, f"M{no}", "2026-10-31", str(37 * i + 3), None, None, False)
                     for i, no in enumerate(accounts)])
    return accounts


def test_run_bills_once_and_posts_to_the_books(world: World) -> None:
    accounts = _population(world)
    first = world.bill("2026-10", "2026-10-31")
    assert first.billed == len(accounts) and first.exceptions == []
    again = world.bill("2026-10", "2026-10-31")
    assert again.billed == 0
    with world.sessions.begin() as s:
        bills = s.execute(select(MeteringBill)).scalars().all()
        assert len(bills) == len(accounts)
        total = sum(b.total_fen for b in bills)
        owed = s.execute(select(func.sum(CustomerBill.amount))).scalar_one()
        assert owed == sum(b.total_fen - b.from_prepaid_fen for b in bills)
        runs = s.execute(select(BillingRun).order_by(BillingRun.id)).scalars().all()
        assert [(r.status, r.accounts_billed, r.total_fen) for r in runs] == [("finished", 7, total),
                                                                             ("finished", 0, 0)]
        kinds = s.execute(select(LedgerTransaction.kind, func.count()).group_by(LedgerTransaction.kind)).all()
        assert dict(kinds)["billing"] == 1
    assert first.total_fen == total == _revenue(world)
    _verify(world)


def test_batches_and_workers_give_the_same_bills(world: World) -> None:
    accounts = _population(world, 11)
    world.config = dataclasses.replace(world.config, batch_size=2, billing_workers=3)
    result = world.bill("2026-10", "2026-10-31")
    assert result.billed == 11 and result.batches == 6
    with world.sessions.begin() as s:
        got = {b.account_no: (b.total_fen, b.from_prepaid_fen) for b in s.execute(select(MeteringBill)).scalars()}
        assert s.execute(select(func.count()).where(LedgerTransaction.kind == "billing")).scalar_one() == 6
    # the figures do not depend on the batching: each is the account's own quote
    for i, no in enumerate(accounts):
        tariff = world.catalog.get("jx-residential" if i % 2 else "fj-residential")
        calc = compute_bill(tariff, Terms(tariff.id), [ReadingUse(dt.date(2026, 10, 31), (37 * i + 3) * 100)], {})
        assert got[no][0] == calc.total_fen
    _verify(world)


def test_concurrent_runs_bill_each_account_once(world: World) -> None:
    _population(world, 9)
    world.config = dataclasses.replace(world.config, batch_size=2)
    errors: list[BaseException] = []

    def go() -> None:
        try:
            world.bill("2026-10", "2026-10-31")
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=go) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with world.sessions.begin() as s:
        assert s.execute(select(func.count()).select_from(MeteringBill)).scalar_one() == 9
    _verify(world)


def test_unpriceable_account_is_recorded_and_nothing_posted_for_it(world: World) -> None:
    world.customer("GOOD", opening=("2026-10-01", "0"))
    world.customer("BAD", tariff="jx-shared-meter", opening=("2026-10-01", "0"))
    world.read_many([("GOOD", "MGOOD", "2026-10-31", "100", None, None, False),
                     ("BAD", "MBAD", "2026-10-31", "100", None, None, False)])
    world.catalog = Catalog(tuple(t for t in world.catalog if t.id != "jx-shared-meter"),
                            world.catalog.late_fees)
    result = world.bill("2026-10", "2026-10-31")
    assert result.billed == 1 and result.skipped == 1
    assert result.exceptions[0][:2] == ("BAD", "unknown_tariff")
    with world.sessions.begin() as s:
        assert s.execute(select(MeteringBill.account_no)).scalars().all() == ["GOOD"]
        assert s.execute(select(BillingException.account_no, BillingException.code)).all() == [("BAD",
                                                                                                "unknown_tariff")]
        assert balance(s, chart.customer_arrears("BAD"), "CNY") == 0
    assert _revenue(world) == yuan("49.83")
    _verify(world)


def test_no_reading_no_bill_then_catch_up(world: World) -> None:
    world.customer("A", tariff="jx-residential", opening=("2026-09-20", "0"))
    assert world.bill("2026-10", "2026-10-31").no_reading == 1
    world.read("A", "2026-11-20", "300")
    result = world.bill("2026-11", "2026-11-30")
    assert result.billed == 1
    bill = world.bills("A")[0]
    assert (bill.opening_date, bill.closing_date, bill.kwh_ckwh) == (dt.date(2026, 9, 20), dt.date(2026, 11, 20),
                                                                     30000)


def test_reading_after_the_cutoff_waits_for_next_period(world: World) -> None:
    world.customer("A", opening=("2026-10-01", "0"))
    world.read_many([("A", "MA", "2026-10-25", "100", None, None, False),
                     ("A", "MA", "2026-11-02", "180", None, None, False)], now=at("2026-11-03"))
    world.bill("2026-10", "2026-10-31", now=at("2026-11-03"))
    world.bill("2026-11", "2026-11-30")
    assert [(b.period, b.kwh_ckwh) for b in world.bills("A")] == [("2026-10", 10000), ("2026-11", 8000)]


def test_zero_consumption_gives_a_zero_bill_and_no_posting(world: World) -> None:
    world.customer("Z", opening=("2026-10-01", "500"))
    world.read("Z", "2026-10-31", "500")
    result = world.bill("2026-10", "2026-10-31")
    assert (result.billed, result.zero_bills, result.total_fen) == (1, 1, 0)
    bill = world.bills("Z")[0]
    assert (bill.status, bill.owed_fen) == ("zero", 0)
    with world.sessions.begin() as s:
        assert s.execute(select(func.count()).select_from(LedgerPosting)).scalar_one() == 0


def test_due_dates_and_prepaid_cover(world: World) -> None:
    world.customer("POST", opening=("2026-10-01", "0"))
    world.customer("PRE", mode="prepaid", opening=("2026-10-01", "0"))
    world.pay("PRE", "500.00", "2026-10-02")
    world.read_many([("POST", "MPOST", "2026-10-31", "100", None, None, False),
                     ("PRE", "MPRE", "2026-10-31", "100", None, None, False)])
    world.bill("2026-10", "2026-10-31")
    post, pre = world.bills("POST")[0], world.bills("PRE")[0]
    assert (post.due_date, post.owed_fen, post.from_prepaid_fen) == (dt.date(2026, 11, 7), 4983, 0)
    assert (pre.due_date, pre.owed_fen, pre.from_prepaid_fen, pre.status) == (dt.date(2026, 10, 31), 0, 4983, "paid")
    assert world.summary("PRE").balance == 50000 - 4983
    assert world.summary("POST").arrears == 4983
    _verify(world)


def test_prepaid_credit_pays_older_bills_first(world: World) -> None:
    """Arrears first: a credit beside an open bill pays the old bill before the new one."""
    from vouchers.books import customers

    world.customer("OLD", opening=("2026-10-01", "0"))
    with world.sessions.begin() as s:
        customers.issue_bill(s, "OLD", 3000, due_date=dt.date(2026, 9, 30), bill_ref="legacy", now=at("2026-10-01"))
    # a refund-like credit straight onto the prepaid balance, beside the open bill
    from vouchers.books import journal
    with world.sessions.begin() as s:
        journal.post(s, journal.Entry("adjustment", "test", "credit-1",
                                      (journal.debit(chart.BANK, 5000, "CNY"),
                                       journal.credit(chart.customer_prepaid("OLD"), 5000, "CNY")),
                                      at("2026-10-05")), now=at("2026-10-05"))
    world.read("OLD", "2026-10-31", "100")
    world.bill("2026-10", "2026-10-31")
    summary = world.summary("OLD")
    assert [(b.bill_ref, b.outstanding) for b in summary.open_bills] == [("elec-2026-10", 4983 - 2000)]
    assert summary.balance == 0
    _verify(world)


def test_bad_periods(world: World) -> None:
    for period, as_of in (("2026-13", "2026-12-01"), ("26-11", "2026-12-01"), ("2026-11", "2026-10-31")):
        with pytest.raises(InvalidPeriod):
            world.bill(period, as_of)
    with pytest.raises(InvalidPeriod, match="future"):
        billing.run_billing(world.sessions, "2026-11", as_of=dt.date(2026, 11, 30), now=at("2026-11-20"),
                            catalog=world.catalog)


def test_bulk_posting_and_the_books_share_one_commit_hook(world: World) -> None:
    """bulk.post_legs defers shared rows exactly like journal.add_postings: applied once, at commit."""
    from vouchers.books import journal
    from vouchers.books.accounts import ensure_accounts
    from vouchers.metering import bulk

    world.customer("S1", mode="prepaid", opening=("2026-10-01", "0"))
    world.pay("S1", "10.00", "2026-10-02")
    now = at("2026-10-31")
    prepaid = chart.customer_prepaid("S1")
    with world.sessions.begin() as s:
        journal.post(s, journal.Entry("adjustment", "test", "first", (
            journal.debit(prepaid, 100, "CNY"), journal.credit(chart.REVENUE, 100, "CNY")), now), now=now)
        ids = ensure_accounts(s, [(prepaid, "CNY"), (chart.REVENUE, "CNY")], now)
        tx, _ = journal.claim(s, kind="billing", source="test", external_ref="second", occurred_at=now, now=now)
        bulk.post_legs(s, tx, [journal.debit(prepaid, 250, "CNY"), journal.credit(chart.REVENUE, 250, "CNY")], ids)
        assert balance(s, chart.REVENUE, "CNY") == -350  # pending shared moves are seen in the transaction
    assert _revenue(world) == 350
    assert world.summary("S1").balance == 1000 - 350
    _verify(world)


def test_a_batch_finds_the_revenue_row_itself_when_the_run_did_not_know_it(world: World) -> None:
    """A run hands its batches the revenue and expense rows it found at its start; a currency that
    appeared later (or no hand-over at all) is found, or created, by the batch."""
    world.customer("K1", opening=("2026-10-01", "0"))
    world.read("K1", "2026-10-31", "100")
    with world.sessions.begin() as s:
        run = BillingRun(period="2026-10", as_of=dt.date(2026, 11, 1), status="running", started_at=at("2026-11-01"),
                         actor="test", accounts_billed=0, zero_bills=0, skipped=0, total_fen=0, batches=0)
        s.add(run)
        s.flush()
        run_id = run.id
    job = billing._Job(run_id, "2026-10", dt.date(2026, 11, 1), at("2026-11-01", 18), "test", book_ids=())
    with world.sessions.begin() as s:
        candidates = pos.select_accounts(s)
    batch = billing._bill_candidates(world.sessions, job, 1, candidates, catalog=world.catalog, config=world.config,
                                     contiguous=True)
    assert batch.billed == 1 and batch.total_fen > 0
    assert _revenue(world) == batch.total_fen
    _verify(world)
