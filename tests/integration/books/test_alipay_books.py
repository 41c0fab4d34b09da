"""The Alipay-style GBK bill imported and reconciled end to end."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from vouchers.books import chart, customers, formats, payments
from vouchers.books.accounts import balance
from vouchers.books.verify import verify

SAMPLE = Path(__file__).parents[2] / "vectors" / "books" / "alipay_bill_20261125.csv"


@pytest.fixture
def accounts(sessions, now):
    with sessions.begin() as s:
        for no in ("0101", "0102", "0103", "0104"):
            customers.create_customer(s, no, f"户主{no}", now=now)


def test_import_then_reconcile_the_same_bill(sessions, now, tmp_path, accounts):
    path = tmp_path / SAMPLE.name
    shutil.copy(SAMPLE, path)
    with sessions.begin() as s:
        imported = formats.import_payments(s, "alipay", path, fmt="alipay", now=now, actor="finance")
    assert (imported.booked, imported.amounts, len(imported.skipped)) == (5, {"CNY": 46938}, 1)
    with sessions.begin() as s:
        assert customers.customer_summary(s, "0101").balance == 30000
        result = formats.reconcile_payments(s, "alipay", path, fmt="alipay", now=now, actor="finance")
    # the bill refunds its first trade: that payment is reversed, the other four settle net of their fees
    assert (result.matched, result.missing_in_books, result.missing_in_file, result.amount_mismatch) == (4, [], [], [])
    assert result.refunded == ["2026112522001411231405561201"]
    assert (result.settled_amounts, result.settled_fees) == ({"CNY": 36938}, {"CNY": 221})
    with sessions.begin() as s:
        assert customers.customer_summary(s, "0101").balance == 20000
        assert balance(s, chart.clearing("alipay"), "CNY") == 0
        assert balance(s, chart.BANK, "CNY") == 36938 - 221
        assert balance(s, chart.CHANNEL_FEES, "CNY") == 221
        assert verify(s).ok


def test_the_bill_period_bounds_missing_in_file(sessions, now, tmp_path, accounts):
    import datetime as dt

    with sessions.begin() as s:  # booked on the 25th (Beijing) but absent from the bill; and one on the 26th
        payments.post_payment(s, "alipay", "0101", 500, "2026112522009999999999999999",
                              dt.datetime(2026, 11, 25, 23, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))), now)
        payments.post_payment(s, "alipay", "0101", 700, "2026112622000000000000000001",
                              dt.datetime(2026, 11, 26, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=8))), now)
        result = formats.reconcile_payments(s, "alipay", SAMPLE, fmt="alipay", now=now, actor="finance")
    assert result.missing_in_file == ["2026112522009999999999999999"]
    assert len(result.missing_in_books) == 5
    assert result.refunds_missing_in_books == ["2026112522001411231405561201"]  # its payment is unknown too
