"""Reconciliation: every mismatch kind, settlement exactly once, CSV report."""
from __future__ import annotations

import csv
import datetime as dt
import re
from pathlib import Path

import pytest

from vouchers.books import chart, customers, payments, reconcile
from vouchers.books.accounts import balance
from vouchers.books.corrections import reverse_payment
from vouchers.books.errors import FileRejected, PaymentNotReversible, ReconciliationError
from vouchers.books.verify import verify

HEADER = "external_ref,account_no,amount,currency,paid_at\n"
UTC = dt.timezone.utc
T = dt.datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # 10:00 in Beijing on the 25th


def write(tmp_path: Path, body: str, name: str = "settle.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + body, encoding="utf-8")
    return path


@pytest.fixture
def booked(sessions, now):
    """Payments on wechat_pay: W1..W5 on the 25th (Beijing), W6 on the 26th, W7 reversed."""
    with sessions.begin() as s:
        customers.create_customer(s, "0101", "张三", now=now)
        customers.create_customer(s, "0102", "李四", now=now)
        for ref, account, amount, when in (
                ("W1", "0101", 1000, T), ("W2", "0101", 2000, T), ("W3", "0102", 3000, T),
                ("W4", "0102", 4000, T), ("W5", "0101", 5000, T), ("W6", "0101", 6000, T + dt.timedelta(days=1)),
                ("W7", "0102", 7000, T)):
            payments.post_payment(s, "wechat_pay", account, amount, ref, when, now)
        reverse_payment(s, payments.get_payment(s, "wechat_pay", "W7").id, now=now, actor="ops", reason="refund")


# W1, W2 match; W3 with another amount; W4 on another account; W5 not in the file; W8 not booked;
# W7 was reversed (so missing in the books); W6 is outside the file's period (the 25th)
FILE = ("W1,0101,10.00,CNY,2026-11-25T10:00:00+08:00\n"
        "W2,0101,20.00,CNY,2026-11-25T10:00:00+08:00\n"
        "W3,0102,30.01,CNY,2026-11-25T10:00:00+08:00\n"
        "W4,0101,40.00,CNY,2026-11-25T10:00:00+08:00\n"
        "W8,0101,80.00,CNY,2026-11-25T23:59:59+08:00\n"
        "W7,0102,70.00,CNY,2026-11-25T00:00:00+08:00\n")


def test_every_mismatch_kind_is_reported(sessions, now, tmp_path, booked):
    with sessions.begin() as s:
        result = reconcile.reconcile_file(s, "wechat_pay", write(tmp_path, FILE), now=now, actor="finance")
    document = result.contract_document()
    assert {k: document[k] for k in ("matched", "missing_in_books", "missing_in_file", "amount_mismatch")} == {
        "matched": 2, "missing_in_books": ["W8", "W7"], "missing_in_file": ["W5"], "amount_mismatch": ["W3"]}
    assert document["account_mismatch"] == ["W4"]
    assert result.period_start == dt.datetime(2026, 11, 24, 16, 0, tzinfo=UTC)
    assert result.period_end == dt.datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
    assert (result.settled_count, result.settled_amounts) == (2, {"CNY": 3000})


def test_matches_settle_exactly_once(sessions, now, tmp_path, booked):
    path = write(tmp_path, FILE)
    with sessions.begin() as s:
        reconcile.reconcile_file(s, "wechat_pay", path, now=now, actor="finance")
    with sessions.begin() as s:
        assert balance(s, chart.BANK, "CNY") == 3000
        assert balance(s, chart.clearing("wechat_pay"), "CNY") == 21000 - 3000
    with sessions.begin() as s:
        again = reconcile.reconcile_file(s, "wechat_pay", path, now=now, actor="finance")
    assert (again.matched, again.settled_count, again.already_settled) == (2, 0, 2)
    with sessions.begin() as s:
        assert balance(s, chart.BANK, "CNY") == 3000
        assert verify(s).ok


def test_a_settled_payment_can_no_longer_be_reversed(sessions, now, tmp_path, booked):
    with sessions.begin() as s:
        reconcile.reconcile_file(s, "wechat_pay", write(tmp_path, FILE), now=now, actor="finance")
    with pytest.raises(PaymentNotReversible, match="settled"):
        with sessions.begin() as s:
            reverse_payment(s, payments.get_payment(s, "wechat_pay", "W1").id, now=now, actor="ops", reason="x")


def test_late_booking_settles_on_the_next_run(sessions, now, tmp_path, booked):
    path = write(tmp_path, FILE)
    with sessions.begin() as s:
        reconcile.reconcile_file(s, "wechat_pay", path, now=now, actor="finance")
        payments.post_payment(s, "wechat_pay", "0101", 8000, "W8", T, now)
    with sessions.begin() as s:
        again = reconcile.reconcile_file(s, "wechat_pay", path, now=now, actor="finance")
    assert (again.matched, again.settled_count, again.missing_in_books) == (3, 1, ["W7"])
    with sessions.begin() as s:
        assert balance(s, chart.BANK, "CNY") == 11000
        assert verify(s).ok


def test_csv_report_lists_every_line_with_its_status(sessions, now, tmp_path, booked):
    out = tmp_path / "report.csv"
    with sessions.begin() as s:
        result = reconcile.reconcile_file(s, "wechat_pay", write(tmp_path, FILE), now=now, actor="finance")
        rows = reconcile.write_report_csv(s, result, out)
    with out.open(encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    assert rows == len(table) == 7
    assert {r["external_ref"]: r["status"] for r in table} == {
        "W1": "matched", "W2": "matched", "W3": "amount_mismatch", "W4": "account_mismatch",
        "W8": "missing_in_books", "W7": "missing_in_books", "W5": "missing_in_file"}
    w3 = next(r for r in table if r["external_ref"] == "W3")
    assert (w3["file_amount"], w3["book_amount"]) == ("30.01", "30.00")
    # issue 22: paid_at in business time with its offset (was "2026-11-25 02:00:00.000000" on SQLite, no zone)
    paid_at = {r["external_ref"]: r["paid_at"] for r in table}
    assert (paid_at["W3"], paid_at["W8"], paid_at["W7"]) == (
        "2026-11-25T10:00:00+08:00", "2026-11-25T23:59:59+08:00", "2026-11-25T00:00:00+08:00")


def test_csv_report_for_a_spreadsheet_has_a_bom_and_local_times_at_the_day_boundary(sessions, now, tmp_path,
                                                                                      booked):
    """A payment at 23:59 Beijing and one at 00:00 the next day (16:00 UTC) keep their local days."""
    with sessions.begin() as s:
        late = dt.datetime(2026, 11, 25, 15, 59, tzinfo=UTC)
        payments.post_payment(s, "wechat_pay", "0101", 100, "W10", late, now)
        payments.post_payment(s, "wechat_pay", "0101", 200, "W11", late + dt.timedelta(minutes=1), now)
    body = FILE + "W10,0101,1.00,CNY,2026-11-25T23:59:00+08:00\nW11,0101,2.00,CNY,2026-11-26T00:00:00+08:00\n"
    out = tmp_path / "report.csv"
    with sessions.begin() as s:
        result = reconcile.reconcile_file(s, "wechat_pay", write(tmp_path, body), now=now, actor="finance")
        reconcile.write_report_csv(s, result, out, tz="Asia/Shanghai", excel=True)
    assert out.read_bytes().startswith(b"\xef\xbb\xbfstatus,")
    with out.open(encoding="utf-8-sig") as f:
        table = {r["external_ref"]: r for r in csv.DictReader(f)}
    assert table["W10"]["paid_at"] == "2026-11-25T23:59:00+08:00"
    assert table["W11"]["paid_at"] == "2026-11-26T00:00:00+08:00"


def test_malformed_settlement_file_reconciles_nothing(sessions, now, tmp_path, booked):
    body = FILE + "W9,0101,abc,CNY,2026-11-25T10:00:00+08:00\nW1,0101,10.00,CNY,2026-11-25T10:00:00+08:00\n"
    with pytest.raises(FileRejected) as caught:
        with sessions.begin() as s:
            reconcile.reconcile_file(s, "wechat_pay", write(tmp_path, body), now=now, actor="finance")
    assert [e.line for e in caught.value.errors] == [8, 9]
    with sessions.begin() as s:
        assert balance(s, chart.BANK, "CNY") == 0


@pytest.mark.parametrize("ref", ["=1+2", "+1", "-A1", "@SUM(A1)"])
def test_a_settlement_line_whose_ref_a_spreadsheet_would_run_is_refused(sessions, now, tmp_path, booked, ref):
    body = FILE + f"{ref},0101,10.00,CNY,2026-11-25T10:00:00+08:00\n"
    with pytest.raises(FileRejected) as caught:
        with sessions.begin() as s:
            reconcile.reconcile_file(s, "wechat_pay", write(tmp_path, body), now=now, actor="finance")
    assert [(e.line, "formula" in e.message) for e in caught.value.errors] == [(8, True)]


def test_csv_report_neutralises_a_formula_ref_booked_before_the_rule(sessions, now, tmp_path, booked, monkeypatch):
    monkeypatch.setattr(payments, "_REF", re.compile(".+"))  # as the rule was before: booked, not in the file
    with sessions.begin() as s:
        payments.post_payment(s, "wechat_pay", "0101", 1250, '=HYPERLINK("http://x";"y")', T, now)
    out = tmp_path / "report.csv"
    with sessions.begin() as s:
        result = reconcile.reconcile_file(s, "wechat_pay", write(tmp_path, FILE), now=now, actor="finance")
        reconcile.write_report_csv(s, result, out)
    with out.open(encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    planted = next(r for r in table if r["external_ref"].endswith('"y")'))
    assert planted["external_ref"] == "'=HYPERLINK(\"http://x\";\"y\")"
    assert (planted["status"], planted["book_amount"]) == ("missing_in_file", "12.50")
    assert {r["external_ref"] for r in table} >= {"W1", "W5", "W8"}  # ordinary references untouched


def test_voucher_channel_has_no_settlement(sessions, now, tmp_path):
    with pytest.raises(ReconciliationError):
        with sessions.begin() as s:
            reconcile.reconcile_file(s, "voucher", write(tmp_path, FILE), now=now, actor="finance")
