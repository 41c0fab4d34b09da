"""Payments import: all or nothing, per-line errors, idempotent re-import, same allocation rule."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select

from vouchers.books import chart, customers, imports, payments
from vouchers.books.accounts import balance
from vouchers.books.allocation import OpenBill, allocate_many
from vouchers.books.corrections import reverse_payment
from vouchers.books.errors import FileRejected, UnknownChannel, WrongEncoding
from vouchers.books.verify import verify
from vouchers.storage.ledger_models import Payment

D = dt.date
HEADER = "external_ref,account_no,amount,currency,paid_at\n"


def write(tmp_path: Path, body: str, name: str = "pay.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes((HEADER + body).encode(encoding))
    return path


@pytest.fixture
def accounts_with_bills(sessions, now):
    with sessions.begin() as s:
        customers.create_customer(s, "0101", "张三", now=now)
        customers.issue_bill(s, "0101", 3000, due_date=D(2026, 9, 25), bill_ref="2026-09", now=now)
        customers.issue_bill(s, "0101", 2000, due_date=D(2026, 10, 25), bill_ref="2026-10", now=now)
        customers.create_customer(s, "0102", "李四", now=now)
        customers.create_customer(s, "0103", "王五", now=now)


GOOD = (
    "AP-3,0101,25.00,CNY,2026-11-25T12:00:00+08:00\n"
    "AP-1,0101,20.00,CNY,2026-11-25T09:00:00+08:00\n"
    "AP-2,0102,12.50,CNY,2026-11-25T10:30:00Z\n"
    "AP-4,0101,10.00,CNY,2026-11-25 18:00:00\n"
)


def _snapshot(sessions):
    with sessions.begin() as s:
        return (balance(s, chart.clearing("alipay"), "CNY"),
                s.execute(select(func.count()).select_from(Payment)).scalar_one(),
                customers.customer_summary(s, "0101"), customers.customer_summary(s, "0102"))


def test_import_books_every_line_with_the_allocation_rule(sessions, engine, now, tmp_path, accounts_with_bills):
    with sessions.begin() as s:
        result = imports.import_file(s, "alipay", write(tmp_path, GOOD), now=now, actor="finance")
    assert (result.lines, result.booked, result.duplicates, result.amounts) == (4, 4, 0, {"CNY": 6750})
    assert result.fast_path == (engine.dialect.name == "postgresql")  # COPY + SQL checks on PostgreSQL
    with sessions.begin() as s:
        assert balance(s, chart.clearing("alipay"), "CNY") == 6750
        first = customers.customer_summary(s, "0101")
        # AP-1 (09:00) 20.00 -> Sep bill; AP-3 (12:00) 25.00 -> 10.00 Sep + 15.00 Oct; AP-4 (18:00) 10.00 -> 5 Oct + 5 prepaid
        assert (first.arrears, first.balance) == (0, 500)
        by_ref = {p.external_ref: p for p in payments.payments_of(s, "0101")}
        assert [(r, by_ref[r].applied_to_arrears, by_ref[r].balance_after) for r in ("AP-1", "AP-3", "AP-4")] == \
            [("AP-1", 2000, 0), ("AP-3", 2500, 0), ("AP-4", 500, 500)]
        assert by_ref["AP-4"].paid_at == dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.timezone.utc)  # naive = Beijing
        assert customers.customer_summary(s, "0102").balance == 1250
        assert verify(s).ok


def test_bulk_allocation_agrees_with_the_reference_rule(sessions, now, tmp_path, accounts_with_bills):
    amounts = [700, 2600, 1, 1500, 999]
    body = "".join(f"R{i},0101,{a // 100}.{a % 100:02d},CNY,2026-11-25T0{i}:00:00+08:00\n" for i, a in enumerate(amounts))
    with sessions.begin() as s:
        bills = [OpenBill(b.bill_id, b.due_date, b.outstanding) for b in customers.customer_summary(s, "0101").open_bills]
        imports.import_file(s, "pos_card", write(tmp_path, body), now=now, actor="finance")
        booked = {p.external_ref: p.applied_to_arrears for p in payments.payments_of(s, "0101")}
    expected = allocate_many(amounts, bills)
    assert [booked[f"R{i}"] for i in range(len(amounts))] == [a.to_arrears for a in expected]


def test_reimporting_the_same_file_changes_nothing(sessions, now, tmp_path, accounts_with_bills):
    path = write(tmp_path, GOOD)
    with sessions.begin() as s:
        imports.import_file(s, "alipay", path, now=now, actor="finance")
    before = _snapshot(sessions)
    with sessions.begin() as s:
        again = imports.import_file(s, "alipay", path, now=now, actor="finance")
    assert (again.booked, again.duplicates) == (0, 4)
    assert _snapshot(sessions) == before
    with sessions.begin() as s:
        assert verify(s).ok


def test_a_file_overlapping_earlier_payments_books_only_the_new_lines(sessions, now, tmp_path, accounts_with_bills):
    with sessions.begin() as s:
        payments.post_payment(s, "alipay", "0102", 1250, "AP-2", now, now)
        result = imports.import_file(s, "alipay", write(tmp_path, GOOD), now=now, actor="finance")
    assert (result.booked, result.duplicates) == (3, 1)
    with sessions.begin() as s:
        assert customers.customer_summary(s, "0102").balance == 1250
        assert verify(s).ok


BAD_LINES = [
    ("AP-9,0999,1.00,CNY,2026-11-25T09:00:00+08:00\n", "unknown account"),
    ("AP-9,0101,-1.00,CNY,2026-11-25T09:00:00+08:00\n", "amount"),
    ("AP-9,0101,0.00,CNY,2026-11-25T09:00:00+08:00\n", "greater than zero"),
    ("AP-9,0101,1.001,CNY,2026-11-25T09:00:00+08:00\n", "amount"),
    ("AP-9,0101,1e3,CNY,2026-11-25T09:00:00+08:00\n", "amount"),
    ("AP-9,0101,1.00,XXX,2026-11-25T09:00:00+08:00\n", "currency"),
    ("AP-9,0101,1.00,USD,2026-11-25T09:00:00+08:00\n", "differs from the account"),
    ("AP-9,0101,1.00,CNY,2026-02-30T09:00:00+08:00\n", "paid_at"),
    ("AP-9,0101,1.00,CNY,yesterday\n", "paid_at"),
    ("AP-9,0101,1.00,CNY\n", "expected 5 fields"),
    ("AP-9,0101,1.00,CNY,2026-11-25T09:00:00+08:00,extra\n", "expected 5 fields"),
    ('"AP-9,0101,1.00,CNY,2026-11-25T09:00:00+08:00\n', "malformed"),
    ("AP-1,0101,1.00,CNY,2026-11-25T09:00:00+08:00\n", "appears again"),
    (",0101,1.00,CNY,2026-11-25T09:00:00+08:00\n", "external_ref"),
    ("=AP-9+1,0101,1.00,CNY,2026-11-25T09:00:00+08:00\n", "formula"),
    ("@AP9,0101,1.00,CNY,2026-11-25T09:00:00+08:00\n", "formula"),
]


@pytest.mark.parametrize("bad, message", BAD_LINES)
def test_one_bad_line_rejects_the_whole_file_with_its_line_number(sessions, now, tmp_path, accounts_with_bills,
                                                                  bad, message):
    lines = GOOD.splitlines(keepends=True)
    path = write(tmp_path, "".join(lines[:2]) + bad + "".join(lines[2:]))
    before = _snapshot(sessions)
    with pytest.raises(FileRejected) as caught:
        with sessions.begin() as s:
            imports.import_file(s, "alipay", path, now=now, actor="finance")
    assert caught.value.errors, caught.value
    first = caught.value.errors[0]
    assert first.line == 4 and message in first.message, caught.value.errors
    assert _snapshot(sessions) == before


def test_every_bad_line_is_reported(sessions, now, tmp_path, accounts_with_bills):
    body = GOOD + "".join(bad.replace("AP-9", f"AP-9{i}") for i, (bad, _) in enumerate(BAD_LINES[:9]))
    with pytest.raises(FileRejected) as caught:
        with sessions.begin() as s:
            imports.import_file(s, "alipay", write(tmp_path, body), now=now, actor="finance")
    assert caught.value.total_errors == 9
    assert [e.line for e in caught.value.errors] == list(range(6, 15))


def test_same_reference_other_amount_is_reported_not_booked(sessions, now, tmp_path, accounts_with_bills):
    with sessions.begin() as s:
        imports.import_file(s, "alipay", write(tmp_path, GOOD), now=now, actor="finance")
    before = _snapshot(sessions)
    changed = GOOD.replace("AP-2,0102,12.50", "AP-2,0102,12.51")
    with pytest.raises(FileRejected) as caught:
        with sessions.begin() as s:
            imports.import_file(s, "alipay", write(tmp_path, changed, "changed.csv"), now=now, actor="finance")
    assert [(e.line, e.external_ref) for e in caught.value.errors] == [(4, "AP-2")]
    assert "another amount" in caught.value.errors[0].message
    assert _snapshot(sessions) == before


def test_wrong_encoding_is_refused_with_the_line(sessions, now, tmp_path, accounts_with_bills):
    body = GOOD + "AP-9,0101,1.00,CNY,2026-11-25T09:00:00+08:00\n"
    path = tmp_path / "gbk.csv"
    path.write_bytes((HEADER + body).encode("utf-8") + "AP-10,0101,1.00,CNY,2026年\n".encode("gbk"))
    with pytest.raises(WrongEncoding, match="line 7 is not valid UTF-8"):
        with sessions.begin() as s:
            imports.import_file(s, "alipay", path, now=now, actor="finance")


@pytest.mark.parametrize("content", ["", "ref,account,amount\nAP-1,0101,1.00\n"])
def test_missing_header_is_refused(sessions, now, tmp_path, content):
    path = tmp_path / "x.csv"
    path.write_text(content)
    with pytest.raises(FileRejected, match="header"):
        with sessions.begin() as s:
            imports.import_file(s, "alipay", path, now=now, actor="finance")


def test_unknown_channel(sessions, now, tmp_path):
    with pytest.raises(UnknownChannel):
        with sessions.begin() as s:
            imports.import_file(s, "paypal", write(tmp_path, GOOD), now=now, actor="finance")


def test_an_imported_payment_can_be_reversed_alone(sessions, now, tmp_path, accounts_with_bills):
    with sessions.begin() as s:
        imports.import_file(s, "alipay", write(tmp_path, GOOD), now=now, actor="finance")
        ap3 = payments.get_payment(s, "alipay", "AP-3")
        reverse_payment(s, ap3.id, now=now, actor="finance", reason="refunded by Alipay")
    with sessions.begin() as s:
        summary = customers.customer_summary(s, "0101")
        # AP-3 had paid 10.00 of September and 15.00 of October: both reopen
        assert (summary.arrears, summary.balance) == (2500, 500)
        assert balance(s, chart.clearing("alipay"), "CNY") == 6750 - 2500
        assert verify(s).ok


def test_block_boundaries_do_not_change_what_is_booked(sessions, engine, now, tmp_path, accounts_with_bills,
                                                        monkeypatch):
    import vouchers.books.staging

    monkeypatch.setattr(vouchers.books.staging, "_BLOCK", 7)  # every line split over several COPY blocks
    with sessions.begin() as s:
        result = imports.import_file(s, "alipay", write(tmp_path, GOOD), now=now, actor="finance")
    assert (result.booked, result.amounts, result.fast_path) == (4, {"CNY": 6750}, engine.dialect.name == "postgresql")
    with sessions.begin() as s:
        assert (customers.customer_summary(s, "0101").balance, customers.customer_summary(s, "0102").balance) == \
            (500, 1250)
        assert verify(s).ok


@pytest.mark.parametrize("extra", ["", "AP-5,0102,1.00,CNY,2026-11-25T10:00:00+08\n"])  # the 2nd: reference parser
def test_the_import_records_the_files_sha256(sessions, engine, now, tmp_path, accounts_with_bills, extra):
    import hashlib

    path = write(tmp_path, GOOD + extra)
    with sessions.begin() as s:
        result = imports.import_file(s, "alipay", path, now=now, actor="finance")
    assert result.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert result.fast_path == (engine.dialect.name == "postgresql" and not extra)


def test_a_reference_twice_in_the_file_is_reported_also_when_booked_before(sessions, now, tmp_path,
                                                                             accounts_with_bills):
    with sessions.begin() as s:
        payments.post_payment(s, "alipay", "0102", 1250, "AP-2", now, now)
    before = _snapshot(sessions)
    body = GOOD + "AP-2,0102,12.50,CNY,2026-11-25T10:30:00Z\n"  # identical to the booked one, twice
    with pytest.raises(FileRejected) as caught:
        with sessions.begin() as s:
            imports.import_file(s, "alipay", write(tmp_path, body), now=now, actor="finance")
    assert [(e.line, e.external_ref) for e in caught.value.errors] == [(6, "AP-2")]
    assert "appears again (first on line 4)" in caught.value.errors[0].message
    assert _snapshot(sessions) == before


def test_a_reference_twice_in_a_new_file_is_reported_and_nothing_booked(sessions, now, tmp_path,
                                                                         accounts_with_bills):
    # PostgreSQL books optimistically and lets the unique index of payments find it: then reports it all the same
    body = "".join(f"R{i},010{1 + i % 3},1.00,CNY,2026-11-25T10:{i % 60:02d}:00+08:00\n" for i in range(200))
    body += "R17,0102,1.00,CNY,2026-11-25T11:00:00+08:00\n"
    before = _snapshot(sessions)
    with pytest.raises(FileRejected) as caught:
        with sessions.begin() as s:
            imports.import_file(s, "alipay", write(tmp_path, body), now=now, actor="finance")
    assert [(e.line, e.external_ref) for e in caught.value.errors] == [(202, "R17")]
    assert caught.value.total_errors == 1
    assert _snapshot(sessions) == before


def _bills_of(session, account_no: str) -> dict[str, tuple[int, int]]:
    """bill_ref -> (outstanding, what bill_allocations applied to it), open or settled."""
    from vouchers.storage.ledger_models import BillAllocation, CustomerAccount, CustomerBill

    rows = session.execute(
        select(CustomerBill.bill_ref, CustomerBill.outstanding,
               func.coalesce(func.sum(BillAllocation.amount), 0))
        .join(CustomerAccount, CustomerAccount.id == CustomerBill.customer_id)
        .outerjoin(BillAllocation, BillAllocation.bill_id == CustomerBill.id)
        .where(CustomerAccount.account_no == account_no)
        .group_by(CustomerBill.id, CustomerBill.bill_ref, CustomerBill.outstanding)).all()
    return {ref: (outstanding, applied) for ref, outstanding, applied in rows}


def test_a_part_payment_pays_the_oldest_bill_first_bill_by_bill(sessions, now, tmp_path, accounts_with_bills):
    # 20.00 against September 30.00 (due first) and October 20.00: September is part-paid, October untouched.
    # (Totals alone cannot tell: paying October first applies the same 20.00 to arrears.)
    with sessions.begin() as s:
        imports.import_file(s, "alipay", write(tmp_path, "AP-1,0101,20.00,CNY,2026-11-25T09:00:00+08:00\n"),
                            now=now, actor="finance")
    with sessions.begin() as s:
        assert _bills_of(s, "0101") == {"2026-09": (1000, 2000), "2026-10": (2000, 0)}
        assert customers.customer_summary(s, "0101").arrears == 3000
        assert verify(s).ok
    # a second part-payment finishes September and starts on October
    with sessions.begin() as s:
        imports.import_file(s, "alipay", write(tmp_path, "AP-2,0101,15.00,CNY,2026-11-26T09:00:00+08:00\n",
                                               "second.csv"), now=now, actor="finance")
    with sessions.begin() as s:
        assert _bills_of(s, "0101") == {"2026-09": (0, 3000), "2026-10": (1500, 500)}


def test_oldest_bill_first_means_due_date_not_issue_order(sessions, now, tmp_path):
    # the later-due bill is issued (and numbered) first: neither id order nor its reverse gives the right answer
    # alone; a due date tie is broken by the bill issued first
    with sessions.begin() as s:
        customers.create_customer(s, "0201", "赵六", now=now)
        customers.issue_bill(s, "0201", 4000, due_date=D(2026, 11, 25), bill_ref="late", now=now)
        customers.issue_bill(s, "0201", 1000, due_date=D(2026, 10, 25), bill_ref="early", now=now)
        customers.issue_bill(s, "0201", 1000, due_date=D(2026, 11, 25), bill_ref="late-2", now=now)
    body = "P-1,0201,12.00,CNY,2026-11-25T09:00:00+08:00\n"  # 10.00 early, 2.00 late, nothing on late-2
    with sessions.begin() as s:
        imports.import_file(s, "pos_card", write(tmp_path, body), now=now, actor="finance")
    with sessions.begin() as s:
        assert _bills_of(s, "0201") == {"early": (0, 1000), "late": (3800, 200), "late-2": (1000, 0)}
        assert verify(s).ok


def test_the_import_transaction_says_what_it_is_and_who_booked_it(sessions, now, tmp_path, accounts_with_bills):
    # mutation survivors (issue 26): the journal header's kind (what corrections may reverse), actor and memo
    from vouchers.storage.ledger_models import LedgerTransaction

    with sessions.begin() as s:
        result = imports.import_file(s, "alipay", write(tmp_path, GOOD), now=now, actor="finance")
    with sessions.begin() as s:
        (header,) = s.execute(select(LedgerTransaction).where(
            LedgerTransaction.id.in_(result.transaction_ids))).scalars().all()
        assert (header.kind, header.source, header.external_ref, header.actor, header.memo) == (
            "payment_import", "import:alipay", f"{result.import_id}:CNY", "finance",
            f"payments import {result.import_id}")
