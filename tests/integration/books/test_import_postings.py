"""The import's journal transaction: one leg per customer account, from the new lines only.

When every line of the file is new, the legs come from the per-customer summary of the stage and the bill
allocations; when some lines were booked before, from the new lines of the stage. Both must give the same
books as booking each new line alone.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import text

from vouchers.books import chart, customers, imports, payments
from vouchers.books.accounts import balance
from vouchers.books.verify import verify

HEADER = "external_ref,account_no,amount,currency,paid_at\n"
LINES = (
    "AP-3,0101,25.00,CNY,2026-11-25T12:00:00+08:00\n"
    "AP-1,0101,20.00,CNY,2026-11-25T09:00:00+08:00\n"
    "AP-2,0102,12.50,CNY,2026-11-25T10:30:00Z\n"
    "AP-4,0101,10.00,CNY,2026-11-25 18:00:00\n"
)


@pytest.fixture
def with_bills(sessions, now):
    with sessions.begin() as s:
        customers.create_customer(s, "0101", "张三", now=now)
        customers.issue_bill(s, "0101", 3000, due_date=dt.date(2026, 9, 25), bill_ref="2026-09", now=now)
        customers.issue_bill(s, "0101", 2000, due_date=dt.date(2026, 10, 25), bill_ref="2026-10", now=now)
        customers.create_customer(s, "0102", "李四", now=now)


def _legs(s, transaction_id: int) -> dict[str, int]:
    rows = s.execute(text("SELECT a.code, p.amount FROM ledger_postings p "
                          "JOIN ledger_accounts a ON a.id = p.account_id WHERE p.transaction_id = :t"),
                     {"t": transaction_id}).all()
    return {code: int(amount) for code, amount in rows}


def _import(sessions, tmp_path: Path, now) -> imports.ImportResult:
    path = tmp_path / "pay.csv"
    path.write_text(HEADER + LINES, encoding="utf-8")
    with sessions.begin() as s:
        return imports.import_file(s, "alipay", path, now=now, actor="finance")


def test_a_new_file_credits_each_customer_account_once(sessions, now, tmp_path, with_bills):
    result = _import(sessions, tmp_path, now)
    with sessions.begin() as s:
        (transaction_id,) = result.transaction_ids
        assert _legs(s, transaction_id) == {
            chart.clearing("alipay"): 6750, chart.customer_arrears("0101"): -5000,
            chart.customer_prepaid("0101"): -500, chart.customer_prepaid("0102"): -1250}
        assert verify(s).ok


def test_lines_booked_before_are_left_out_of_the_legs(sessions, now, tmp_path, with_bills):
    with sessions.begin() as s:  # AP-1 alone first: 20.00 to the September bill
        payments.post_payment(s, "alipay", "0101", 2000, "AP-1", now, now)
    result = _import(sessions, tmp_path, now)
    assert (result.booked, result.duplicates) == (3, 1)
    with sessions.begin() as s:
        (transaction_id,) = result.transaction_ids
        # AP-3 25.00: 10.00 September + 15.00 October; AP-4 10.00: 5.00 October + 5.00 prepaid; AP-2 prepaid
        assert _legs(s, transaction_id) == {
            chart.clearing("alipay"): 4750, chart.customer_arrears("0101"): -3000,
            chart.customer_prepaid("0101"): -500, chart.customer_prepaid("0102"): -1250}
        summary = customers.customer_summary(s, "0101")
        assert (summary.arrears, summary.balance) == (0, 500)
        assert balance(s, chart.clearing("alipay"), "CNY") == 6750
        assert verify(s).ok
