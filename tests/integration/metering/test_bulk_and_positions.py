"""The billing run's set-based helpers: batch postings, balance-row locks, keyset batches."""
from __future__ import annotations

import pytest
from sqlalchemy import bindparam, select, text
from sqlalchemy.exc import OperationalError

from vouchers.books import chart, journal
from vouchers.books.accounts import balance, ensure_accounts
from vouchers.books.errors import InvalidPosting, UnbalancedTransaction
from vouchers.books.verify import verify
from vouchers.metering import bulk
from vouchers.metering import positions as pos
from vouchers.storage.ledger_models import CustomerAccount, LedgerPosting
from tests.integration.metering.conftest import World, at


def _ids(world: World, *codes: str) -> dict[str, int]:
    with world.sessions.begin() as s:
        found = ensure_accounts(s, [(code, "CNY") for code in codes], at("2026-10-01"))
    return {code: found[(code, "CNY")] for code in codes}


def test_post_entries_nets_moves_balances_and_shared_rows_at_commit(world: World) -> None:
    world.customer("E1", opening=("2026-10-01", "0"))
    world.customer("E2", opening=("2026-10-01", "0"))
    prepaid1, prepaid2 = chart.customer_prepaid("E1"), chart.customer_prepaid("E2")  # no ledger bills needed
    ids = _ids(world, prepaid1, prepaid2, chart.REVENUE)
    now = at("2026-10-31")
    with world.sessions.begin() as s:
        tx, _ = journal.claim(s, kind="billing", source="test", external_ref="entries", occurred_at=now, now=now)
        count = bulk.post_entries(s, tx, [
            bulk.Entry(prepaid1, ids[prepaid1], "CNY", 300), bulk.Entry(prepaid1, ids[prepaid1], "CNY", 200),
            bulk.Entry(prepaid2, ids[prepaid2], "CNY", 250),
            bulk.Entry(chart.REVENUE, ids[chart.REVENUE], "CNY", -750, True)])
        assert count == 3  # E1's two legs netted into one posting
        assert balance(s, chart.REVENUE, "CNY") == -750  # the pending shared move is seen in the transaction
        amounts = sorted(s.execute(select(LedgerPosting.amount).where(LedgerPosting.transaction_id == tx)).scalars())
        assert amounts == [-750, 250, 500]
    with world.sessions.begin() as s:
        assert balance(s, prepaid1, "CNY") == 500 and balance(s, prepaid2, "CNY") == 250
        assert balance(s, chart.REVENUE, "CNY") == -750
        assert verify(s, today=at("2027-01-01").date()).ok


@pytest.mark.parametrize("entries,error", [
    ([("customer_arrears:U1", 100), (chart.REVENUE, -99)], UnbalancedTransaction),  # not zero-sum
    ([("customer_arrears:U1", 100), ("customer_arrears:U1", -100)], UnbalancedTransaction),  # nets to nothing
    ([("customer_arrears:U1", 1.5), (chart.REVENUE, -1.5)], InvalidPosting),  # not integer minor units
])
def test_post_entries_refuses_what_the_books_refuse(world, entries, error) -> None:  # type: ignore[no-untyped-def]
    world.customer("U1", opening=("2026-10-01", "0"))
    ids = _ids(world, "customer_arrears:U1", chart.REVENUE)
    now = at("2026-10-31")
    with pytest.raises(error), world.sessions.begin() as s:
        tx, _ = journal.claim(s, kind="billing", source="test", external_ref="bad", occurred_at=now, now=now)
        bulk.post_entries(s, tx, [bulk.Entry(code, ids[code], "CNY", amount, code == chart.REVENUE)
                                  for code, amount in entries])
    with world.sessions.begin() as s:
        assert s.execute(select(LedgerPosting)).first() is None


def test_select_accounts_walks_by_key(world: World) -> None:
    for no in ("A3", "A1", "A2", "A5", "A4"):
        world.customer(no, opening=("2026-10-01", "0"))
    with world.sessions.begin() as s:
        first = pos.select_accounts(s, limit=2)
        second = pos.select_accounts(s, after=first[-1].account_no, limit=2)
        rest = pos.select_accounts(s, after=second[-1].account_no, limit=2)
        assert [[p.account_no for p in batch] for batch in (first, second, rest)] == [["A1", "A2"], ["A3", "A4"],
                                                                                      ["A5"]]
        assert all(p.customer_id and p.arrears_account_id and p.prepaid_account_id for p in first + second + rest)


def test_lock_reads_the_balances_of_exactly_the_given_accounts(world: World) -> None:
    for no in ("L1", "L2", "L3"):
        world.customer(no, mode="prepaid", opening=("2026-10-01", "0"))
    world.pay("L2", "12.34", "2026-10-02")
    with world.sessions.begin() as s:
        found = {p.account_no: p for p in pos.select_accounts(s)}
        balances = pos.lock(s, [found["L1"], found["L2"]])
        l1, l2, l3 = found["L1"], found["L2"], found["L3"]
        # zero balances may be left out (PostgreSQL returns only the others); every row is locked all the same
        assert set(balances) <= {l1.arrears_account_id, l1.prepaid_account_id, l2.arrears_account_id,
                                 l2.prepaid_account_id}
        assert balances[l2.prepaid_account_id] == -1234
        assert all(balances.get(i, 0) == 0 for i in (l1.arrears_account_id, l1.prepaid_account_id,
                                                      l2.arrears_account_id))
        pos.apply_balances([l1, l2], balances)
        assert (l2.prepaid_fen, l2.arrears_fen, l1.prepaid_fen) == (1234, 0, 0)
        assert l3.prepaid_account_id not in balances


@pytest.mark.postgres
def test_lock_holds_the_row_locks_until_the_end_of_the_transaction(sessions) -> None:  # type: ignore[no-untyped-def]
    world = World(sessions)
    if sessions.kw["bind"].dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's")
    for no in ("R1", "R2"):
        world.customer(no, opening=("2026-10-01", "0"))
    with sessions.begin() as s:
        found = {p.account_no: p for p in pos.select_accounts(s)}
        pos.lock(s, [found["R1"]])  # both of R1's balances are zero: locked even though not returned
        with sessions.begin() as other:
            other.execute(text("SET LOCAL lock_timeout = '200ms'"))
            # R2's rows are free
            other.execute(text("SELECT id FROM ledger_accounts WHERE id = :i FOR NO KEY UPDATE NOWAIT"),
                          {"i": found["R2"].prepaid_account_id})
        for account_id in (found["R1"].arrears_account_id, found["R1"].prepaid_account_id):
            with pytest.raises(OperationalError), sessions.begin() as other:
                other.execute(text("SELECT id FROM ledger_accounts WHERE id = :i FOR NO KEY UPDATE NOWAIT"),
                              {"i": account_id})


def test_fetch_shaped_builds_once_and_takes_new_values_every_call(world: World) -> None:
    for no in ("S1", "S2", "S3"):
        world.customer(no, opening=("2026-10-01", "0"))
    built = []

    def build():  # type: ignore[no-untyped-def]
        built.append(1)
        return (select(CustomerAccount.account_no)
                .where(CustomerAccount.account_no.between(bindparam("lo", "S1"), bindparam("hi", "S1")))
                .order_by(CustomerAccount.account_no))

    key = ("test", world.sessions.kw["bind"].url.database)
    with world.sessions.begin() as s:
        assert bulk.fetch_shaped(s, key, build, {"lo": "S1", "hi": "S2"}) == [("S1",), ("S2",)]
        assert bulk.fetch_shaped(s, key, build, {"lo": "S2", "hi": "S3"}) == [("S2",), ("S3",)]
        assert bulk.fetch_shaped(s, key, build, {"lo": "S3", "hi": "S9"}) == [("S3",)]
    assert len(built) == 1


def test_fetch_shaped_refuses_a_statement_whose_values_are_not_all_given(world: World) -> None:
    with world.sessions.begin() as s, pytest.raises(ValueError, match=r"no value for \['hi'\]"):
        bulk.fetch_shaped(s, ("test-missing",), lambda: select(CustomerAccount.account_no).where(
            CustomerAccount.account_no.between(bindparam("lo", "A"), bindparam("hi", "B"))), {"lo": "A"})


def test_a_range_and_a_list_of_accounts_read_the_same_positions(world: World) -> None:
    """The scoped reads (balances, unbilled readings, billed kWh), kept once per process for ranges, give
    the same as the statements built for a list, batch after batch with other values."""
    for no in ("P1", "P2", "P3", "P4"):
        world.customer(no, mode="prepaid", opening=("2026-10-01", "0"))
        world.read(no, "2026-10-31", "100")
        world.read(no, "2026-11-30", "250")
    world.bill("2026-10", as_of="2026-11-01")
    world.pay("P2", "500.00", "2026-11-02")

    def read(numbers: list[str], cutoff: str, contiguous: bool) -> list[tuple]:  # type: ignore[type-arg]
        with world.sessions.begin() as s:
            found = [p for p in pos.select_accounts(s) if p.account_no in numbers]
            scope = pos.Scope(found, contiguous=contiguous)
            pos.fill(s, found, cutoff=at(cutoff).date(), scope=scope)
            return [(p.account_no, p.prepaid_fen, p.last_close, p.unbilled, p.used_by_period) for p in found]

    for numbers, cutoff in ((["P1", "P2"], "2026-11-30"), (["P2", "P3", "P4"], "2026-11-15"),
                            (["P3", "P4"], "2026-11-30")):
        by_range, by_list = read(numbers, cutoff, True), read(numbers, cutoff, False)
        assert by_range == by_list
        assert [row[0] for row in by_range] == numbers
    _, prepaid, last_close, unbilled, used = read(["P2"], "2026-11-30", True)[0]
    assert prepaid > 0 and last_close == at("2026-10-31").date()  # the payment beyond October's bill
    assert [u.kwh_ckwh for u in unbilled] == [15000] and sum(used.values()) == 10000
    assert read(["P2"], "2026-11-15", True)[0][3] == ()  # November's reading is after that cutoff
