"""`verify` finds every kind of damage (a verifier that never fails proves nothing)."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from vouchers.books import customers, payments, voucher_books
from vouchers.books.verify import verify

from .conftest import voucher_id


@pytest.fixture
def books(sessions, now, stock):
    batch = stock(count=5, face_value=10000)
    with sessions.begin() as s:
        customers.create_customer(s, "0101", "张三", arrears=500, arrears_due=now.date(), now=now)
        voucher_books.activate(s, batch.batch_id, "D1", now=now, actor="D1")
        vid = voucher_id(s, batch, 1)
        voucher_books.claim_for_redemption(s, vid, today=now.date(), now=now)
        voucher_books.redeem_voucher(s, vid, "0101", now=now)
        payments.post_payment(s, "alipay", "0101", 999, "AP-1", now, now)
    with sessions.begin() as s:
        assert verify(s).ok
    return batch


def _problems(sessions, statement: str) -> set[str]:
    with sessions() as s:
        with s.begin():
            if s.get_bind().dialect.name == "sqlite":
                s.execute(text("PRAGMA foreign_keys=OFF"))
            s.execute(text(statement))
            found = {p.check for p in verify(s).problems}
            s.rollback()
    return found


@pytest.mark.parametrize("statement, check", [
    ("UPDATE ledger_accounts SET balance = balance + 1 WHERE code = 'bank' OR code = 'voucher_liability'",
     "balance"),
    ("UPDATE vouchers SET status = 'inactive' WHERE status = 'active' AND sequence = 2", "voucher_liability"),
    ("UPDATE customer_bills SET outstanding = outstanding + 1", "arrears"),
    ("UPDATE payments SET reconciliation_id = NULL, amount = amount + 1 WHERE channel = 'alipay'", "clearing"),
])
def test_verify_reports_tampering(sessions, books, statement, check):
    assert check in _problems(sessions, statement)


def test_verify_reports_a_broken_transaction_on_sqlite(sessions, books, engine):
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL refuses the edit itself (see test_journal)")
    with sessions() as s, s.begin():
        s.execute(text("DROP TRIGGER ledger_postings_no_update"))
        s.execute(text("UPDATE ledger_postings SET amount = amount + 7 WHERE transaction_id = "
                       "(SELECT max(transaction_id) FROM ledger_postings) AND line = 1"))
        found = {p.check for p in verify(s).problems}
        s.rollback()
    assert {"zero_sum", "balance"} <= found


def _messages(sessions, statement: str) -> dict[str, tuple[object, object, str]]:
    with sessions() as s, s.begin():
        s.execute(text(statement))
        found = {p.check: (p.expected, p.actual, p.message) for p in verify(s).problems}
        s.rollback()
    return found


def test_problems_show_amounts_with_their_currency_and_keep_minor_units_as_numbers(sessions, books):
    found = _messages(sessions, "UPDATE vouchers SET status = 'inactive' WHERE status = 'active' AND sequence = 2")
    assert found["voucher_liability"] == \
        (30000, 40000, "voucher_liability 400.00 CNY != face value of 3 active cards 300.00 CNY")
    found = _messages(sessions, "UPDATE customer_bills SET outstanding = outstanding + 1")
    assert found["arrears"][2] == "arrears on the books 0.00 CNY != outstanding bills 0.01 CNY"
    assert found["bill"] == (0, 1, "outstanding 0.01 CNY != amount minus allocations 0.00 CNY")
    found = _messages(sessions, "UPDATE ledger_accounts SET balance = balance + 150 WHERE code = 'voucher_liability'")
    assert found["balance"] == (-40000, -39850, "stored balance -398.50 CNY != sum of postings -400.00 CNY")


def test_the_overdue_cards_warning_shows_their_value(sessions, books, now):
    with sessions.begin() as s:
        [warning] = verify(s, today=dt.date(2028, 1, 1)).warnings
    assert warning.startswith("4 active cards (400.00 CNY) are past their last valid day")


# -- mutation survivors (issue 26, docs/testing.md) ---------------------------------------------------------------

def test_an_account_without_postings_is_checked_too(sessions, now, books):
    from vouchers.books.accounts import ensure_account

    with sessions.begin() as s:
        ensure_account(s, "expense:suspense", "CNY", now)
    with sessions.begin() as s:  # no postings, balance 0: consistent
        assert verify(s).ok
    with sessions() as s:
        with s.begin():
            s.execute(text("UPDATE ledger_accounts SET balance = 700 WHERE code = 'expense:suspense'"))
            problems = [(p.check, p.subject, p.expected, p.actual) for p in verify(s).problems]
            s.rollback()
    assert problems == [("balance", "expense:suspense CNY", 0, 700)]


def test_the_report_counts_what_it_checked(sessions, books):
    from sqlalchemy import func, select

    from vouchers.storage.ledger_models import LedgerAccount, LedgerPosting, LedgerTransaction

    with sessions.begin() as s:
        report = verify(s)
        counts = tuple(s.execute(select(func.count()).select_from(m)).scalar_one()
                       for m in (LedgerAccount, LedgerTransaction, LedgerPosting))
    assert (report.accounts, report.transactions, report.postings) == counts
    assert all(n > 0 for n in counts)
