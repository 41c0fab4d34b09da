"""An Alipay-style bill with channel fees and refunds, reconciled twice: fees booked once, refunds reversed once."""
from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select

from vouchers.books import chart, customers, formats, payments
from vouchers.books.accounts import balance
from vouchers.books.adapters.alipay import COLUMNS
from vouchers.books.corrections import reverse_payment
from vouchers.books.reconcile import write_report_csv
from vouchers.books.reports.trial_balance import trial_balance
from vouchers.books.verify import verify
from vouchers.storage.ledger_models import LedgerAccount, LedgerPosting, LedgerTransaction, Payment

BJ = dt.timezone(dt.timedelta(hours=8))
DAY = dt.date(2026, 11, 25)


def ref(n: int) -> str:
    return f"2026112522{n:018d}"


def _row(values: dict[str, str]) -> str:
    return ",".join(values.get(c, "") + "\t" for c in COLUMNS)


def trade(n: int, account: str, amount: str, fee: str, at: str = "10:00:00") -> tuple[str, str, str, str]:
    return ("交易", ref(n), _row({
        "支付宝交易号": ref(n), "商户订单号": f"DF{n}", "业务类型": "交易", "商品名称": f"电费缴费-户号{account}",
        "创建时间": f"{DAY} {at}", "完成时间": f"{DAY} {at}", "订单金额（元）": amount, "商家实收（元）": amount,
        "服务费（元）": f"-{fee}", "备注": f"户号:{account}"}), fee)


def refund(n: int, account: str, amount: str, fee: str, at: str = "15:00:00") -> tuple[str, str, str, str]:
    return ("退款", ref(n), _row({
        "支付宝交易号": ref(n), "商户订单号": f"DF{n}", "业务类型": "退款", "商品名称": f"电费缴费-户号{account}",
        "创建时间": f"{DAY} {at}", "完成时间": f"{DAY} {at}", "订单金额（元）": amount, "商家实收（元）": f"-{amount}",
        "退款批次号/请求号": f"R{n}", "服务费（元）": fee, "备注": "退款"}), fee)


def _sum(values: list[str]) -> str:
    total = sum(int(v.replace(".", "")) for v in values)
    return f"{total // 100}.{total % 100:02d}"


def write_bill(path: Path, lines: list[tuple[str, str, str, str]], day: dt.date = DAY) -> Path:
    """A GBK bill with header, the lines and both footers (counts, totals, fees) consistent with them."""
    trades = [line for line in lines if line[0] == "交易"]
    refunds = [line for line in lines if line[0] == "退款"]

    def amount(row: str) -> str:
        return row.split(",")[COLUMNS.index("订单金额（元）")].strip()

    nxt = day + dt.timedelta(days=1)
    text = "\r\n".join([
        "#支付宝业务明细查询", "#账号：[20889211234567890156]",
        f"#起始日期：[{day.year}年{day.month}月{day.day}日 00:00:00]   终止日期：[{nxt.year}年{nxt.month}月{nxt.day}日 00:00:00]",
        "#-----------------------------------------业务明细列表----------------------------------------",
        ",".join(COLUMNS), *[line[2] for line in lines],
        "#-----------------------------------------业务明细列表结束------------------------------------",
        f"#交易合计：{len(trades)}笔，商家实收共：{_sum([amount(t[2]) for t in trades])}元，商家优惠共：0.00元，"
        f"服务费共：-{_sum([t[3] for t in trades])}元，分润共：0.00元",
        f"#退款合计：{len(refunds)}笔，商家实收共：-{_sum([amount(r[2]) for r in refunds])}元，商家优惠共：0.00元，"
        f"服务费共：{_sum([r[3] for r in refunds])}元，分润共：0.00元",
        "#导出时间：[2026年11月26日 09:30:11]", ""])
    path.write_bytes(text.encode("gbk"))
    return path


def at(hour: int) -> dt.datetime:
    return dt.datetime(2026, 11, 25, hour, tzinfo=BJ)


@pytest.fixture
def books(sessions, now):
    """Alipay payments: 1 (0201, 100.00), 2 (0202, 50.00, refunded in full), 3 (0201, 80.00), 5 (0203, 60.00,
    refunded in part)."""
    with sessions.begin() as s:
        for no in ("0201", "0202", "0203"):
            customers.create_customer(s, no, f"户主{no}", now=now)
        for n, account, amount in ((1, "0201", 10000), (2, "0202", 5000), (3, "0201", 8000), (5, "0203", 6000)):
            payments.post_payment(s, "alipay", account, amount, ref(n), at(10), now)


BILL = [trade(1, "0201", "100.00", "0.60"), trade(2, "0202", "50.00", "0.30"), trade(3, "0201", "80.00", "0.48"),
        trade(5, "0203", "60.00", "0.36"), refund(2, "0202", "50.00", "0.30"), refund(4, "0201", "30.00", "0.18"),
        refund(5, "0203", "20.00", "0.12")]


def _journal_count(s) -> tuple[int, int]:
    return (s.execute(select(func.count()).select_from(LedgerTransaction)).scalar_one(),
            s.execute(select(func.count()).select_from(LedgerPosting)).scalar_one())


def test_fees_and_refunds_are_booked_once(sessions, now, tmp_path, books):
    path = write_bill(tmp_path / "alipay_20261125.csv", BILL)
    out = tmp_path / "report.csv"
    with sessions.begin() as s:
        first = formats.reconcile_payments(s, "alipay", path, fmt="alipay", now=now, actor="finance")
        write_report_csv(s, first, out)
    doc = first.contract_document()
    assert {k: doc[k] for k in ("matched", "missing_in_books", "missing_in_file", "amount_mismatch")} == {
        "matched": 3, "missing_in_books": [], "missing_in_file": [], "amount_mismatch": []}
    assert doc["refunded"] == [ref(2)]
    assert doc["refunds_missing_in_books"] == [ref(4)]
    assert [(r["external_ref"], r["status"], r["amount"], r["fee_returned"]) for r in doc["refunds"]] == [
        (ref(2), "reversed", "50.00", "0.30"), (ref(4), "missing_in_books", "30.00", "0.18"),
        (ref(5), "amount_mismatch", "20.00", "0.12")]
    assert doc["skipped"] == []  # refunds are reconciled, not skipped
    assert doc["settled"]["amounts"] == {"CNY": "240.00"}
    assert (doc["settled"]["fees"], doc["settled"]["net"]) == ({"CNY": "1.44"}, {"CNY": "238.56"})
    reversal_id = doc["refunds"][0]["reversal_id"]

    with sessions.begin() as s:
        assert balance(s, chart.BANK, "CNY") == 23856
        assert balance(s, chart.CHANNEL_FEES, "CNY") == 144
        assert balance(s, chart.clearing("alipay"), "CNY") == 0
        assert customers.customer_summary(s, "0202").balance == 0
        assert payments.get_payment(s, "alipay", ref(2)).status == "reversed"
        reversal = s.get(LedgerTransaction, reversal_id)
        assert (reversal.kind, reversal.reverses_id) == (
            "payment_reversal", payments.get_payment(s, "alipay", ref(2)).transaction_id)
        assert _legs(s, first.settlement_transaction_ids[0]) == {
            chart.BANK: 23856, chart.CHANNEL_FEES: 144, chart.clearing("alipay"): -24000}
        assert verify(s).ok
        before = _journal_count(s)
        tb = {line.account: (line.debit, line.credit) for line in trial_balance(s, as_of=now + dt.timedelta(days=1),
                                                                                   currency="CNY").lines}
        assert tb[chart.CHANNEL_FEES] == (144, 0)

    with out.open(encoding="utf-8") as f:
        table = [(r["status"], r["external_ref"], r["fee"]) for r in csv.DictReader(f)]
    assert table == [("matched", ref(1), "0.60"), ("refunded", ref(2), "0.30"), ("matched", ref(3), "0.48"),
                     ("matched", ref(5), "0.36"), ("refund_reversed", ref(2), "0.30"),
                     ("refund_missing_in_books", ref(4), "0.18"), ("refund_amount_mismatch", ref(5), "0.12")]

    with sessions.begin() as s:
        again = formats.reconcile_payments(s, "alipay", path, fmt="alipay", now=now, actor="finance")
    doc = again.contract_document()
    assert (again.matched, again.settled_count, again.already_settled, again.settled_fees) == (3, 0, 3, {})
    assert (doc["missing_in_books"], doc["refunded"], doc["refunds_missing_in_books"]) == ([], [ref(2)], [ref(4)])
    assert [(r["status"], r["reversal_id"]) for r in doc["refunds"]] == [
        ("already_reversed", reversal_id), ("missing_in_books", None), ("amount_mismatch", None)]
    with sessions.begin() as s:
        assert _journal_count(s) == before  # nothing new in the books
        assert (balance(s, chart.BANK, "CNY"), balance(s, chart.CHANNEL_FEES, "CNY")) == (23856, 144)
        assert verify(s).ok


def test_settlement_legs_with_and_without_fees(sessions, now, tmp_path, books):
    with sessions.begin() as s:
        result = formats.reconcile_payments(s, "alipay", write_bill(tmp_path / "a.csv", [trade(1, "0201", "100.00",
                                                                                                "0.60")]),
                                            fmt="alipay", now=now, actor="finance")
        legs = _legs(s, result.settlement_transaction_ids[0])
    assert legs == {chart.BANK: 9940, chart.CHANNEL_FEES: 60, chart.clearing("alipay"): -10000}
    generic = tmp_path / "g.csv"  # the generic format has no fee column: gross settlement, two legs, as before
    generic.write_text("external_ref,account_no,amount,currency,paid_at\n"
                       f"{ref(3)},0201,80.00,CNY,2026-11-25T10:00:00+08:00\n", encoding="utf-8")
    with sessions.begin() as s:
        result = formats.reconcile_payments(s, "alipay", generic, now=now, actor="finance")
        assert _legs(s, result.settlement_transaction_ids[0]) == {chart.BANK: 8000, chart.clearing("alipay"): -8000}
        assert result.contract_document()["settled"]["fees"] == {"CNY": "0.00"}
        assert (result.refunds, result.refunded) == ([], [])
    with sessions.begin() as s:  # stored shared balances move at commit (PostgreSQL)
        assert verify(s).ok


def _legs(s, transaction_id: int) -> dict[str, int]:
    return {code: int(amount) for code, amount in s.execute(
        select(LedgerAccount.code, LedgerPosting.amount)
        .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id).where(LedgerPosting.transaction_id == transaction_id)).all()}


def test_a_refund_of_a_settled_payment_is_reported_not_booked(sessions, now, tmp_path, books):
    with sessions.begin() as s:
        formats.reconcile_payments(s, "alipay", write_bill(tmp_path / "d1.csv", [trade(1, "0201", "100.00", "0.60")]),
                                   fmt="alipay", now=now, actor="finance")
        before = _journal_count(s)
    with sessions.begin() as s:
        later = formats.reconcile_payments(s, "alipay", write_bill(tmp_path / "d2.csv", [
            refund(1, "0201", "100.00", "0.60")], dt.date(2026, 11, 26)), fmt="alipay", now=now, actor="finance")
        assert [(o.status, o.reversal_id) for o in later.refunds] == [("settled_before", None)]
    with sessions.begin() as s:
        assert _journal_count(s) == before
        assert payments.get_payment(s, "alipay", ref(1)).status == "booked"
        assert verify(s).ok


def test_a_refund_naming_another_account_is_not_booked(sessions, now, tmp_path, books):
    with sessions.begin() as s:
        result = formats.reconcile_payments(s, "alipay", write_bill(tmp_path / "x.csv", [
            refund(2, "0201", "50.00", "0.30")]), fmt="alipay", now=now, actor="finance")
        assert [o.status for o in result.refunds] == ["account_mismatch"]
        assert payments.get_payment(s, "alipay", ref(2)).status == "booked"


def test_a_payment_reversed_by_hand_is_not_reversed_again(sessions, now, tmp_path, books):
    with sessions.begin() as s:
        payment = payments.get_payment(s, "alipay", ref(2))
        by_hand = reverse_payment(s, payment.id, now=now, actor="ops", reason="customer called").transaction_id
    with sessions.begin() as s:
        result = formats.reconcile_payments(s, "alipay", write_bill(tmp_path / "y.csv", [
            trade(2, "0202", "50.00", "0.30"), refund(2, "0202", "50.00", "0.30")]), fmt="alipay", now=now,
            actor="finance")
        assert [(o.status, o.reversal_id) for o in result.refunds] == [("already_reversed", by_hand)]
        assert (result.refunded, result.missing_in_books, result.settled_count) == ([ref(2)], [], 0)
    with sessions.begin() as s:
        reversed_ = select(func.count()).select_from(Payment).where(Payment.status == "reversed")
        assert s.execute(reversed_).scalar_one() == 1
        assert verify(s).ok


def test_channel_report_shows_fees_in_the_period_of_the_settlement(sessions, now, tmp_path, books):
    """Payments on 25 November, the bill settled on 1 December: November shows the payments, December the
    1.44 of fees Alipay kept (a line without payments), the totals both."""
    from vouchers.books.reports.channels import channel_report

    settled_at = dt.datetime(2026, 12, 1, 9, tzinfo=BJ)
    with sessions.begin() as s:
        formats.reconcile_payments(s, "alipay", write_bill(tmp_path / "alipay_20261125.csv", BILL), fmt="alipay",
                                   now=settled_at, actor="finance")
        payments.post_payment(s, "bank_counter", "0203", 1000, "B-1", at(11), now)
        report = channel_report(s, start=dt.datetime(2026, 11, 1, tzinfo=BJ), end=dt.datetime(2027, 1, 1, tzinfo=BJ),
                                currency="CNY", granularity="month", tz="Asia/Shanghai")
    assert [(x.period, x.channel, x.count, x.amount, x.fees) for x in report.lines] == [
        ("2026-11", "alipay", 3, 24000, 0), ("2026-11", "bank_counter", 1, 1000, 0), ("2026-12", "alipay", 0, 0, 144)]
    assert [(x.channel, x.count, x.amount, x.fees) for x in report.totals] == [
        ("bank_counter", 1, 1000, 0), ("alipay", 3, 24000, 144)]
    assert (report.count, report.amount, report.fees) == (4, 25000, 144)
    assert report.lines[2].count_share == report.lines[2].amount_share == "0.00"
