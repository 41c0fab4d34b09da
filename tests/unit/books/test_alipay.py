"""The Alipay-style bill adapter reads a GBK sample (tests/vectors/books)."""
from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest

from vouchers.books.adapters.alipay import AlipayBill
from vouchers.books.csvformat import PaymentLine
from vouchers.books.errors import FileRejected, LineError, UnsupportedFormat, WrongEncoding

SAMPLE = Path(__file__).parents[2] / "vectors" / "books" / "alipay_bill_20261125.csv"
UTC = dt.timezone.utc


def read(data: bytes) -> tuple[AlipayBill, list[PaymentLine | LineError]]:
    bill = AlipayBill(io.BytesIO(data))
    return bill, list(bill)


def test_the_sample_is_gbk_not_utf8():
    raw = SAMPLE.read_bytes()
    raw.decode("gbk")
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")


def test_sample_maps_onto_generic_lines():
    bill, items = read(SAMPLE.read_bytes())
    assert bill.alipay_account == "20889211234567890156"
    assert bill.period == (dt.datetime(2026, 11, 24, 16, tzinfo=UTC), dt.datetime(2026, 11, 25, 16, tzinfo=UTC))
    assert all(isinstance(i, PaymentLine) for i in items)
    assert [(i.external_ref, i.account_no, i.amount, i.currency) for i in items] == [
        ("2026112522001411231405561201", "0101", 10000, "CNY"),
        ("2026112522001436541408212287", "0102", 5000, "CNY"),
        ("2026112522001457891402934410", "0103", 8888, "CNY"),  # 户号 only in the remark, full-width colon
        ("2026112522001473321409125566", "0101", 20000, "CNY"),
        ("2026112522001490011400387720", "0104", 3050, "CNY"),
    ]
    assert items[0].paid_at == dt.datetime(2026, 11, 25, 0, 3, 15, tzinfo=UTC)  # 08:03:15 Beijing
    assert items[0].line == 6
    assert [(s.line, s.external_ref) for s in bill.skipped] == [(9, "2026112522001411231405561201")]
    assert (bill.trade_count, bill.trade_total) == (5, 46938)


def test_a_truncated_bill_is_refused():
    text = SAMPLE.read_bytes().decode("gbk")
    cut = "\r\n".join(line for line in text.split("\r\n") if "2026112522001490011400387720" not in line)
    with pytest.raises(FileRejected, match="footer"):
        read(cut.encode("gbk"))
    no_footer = "\r\n".join(line for line in text.split("\r\n") if not line.startswith("#交易合计"))
    with pytest.raises(FileRejected, match="no totals footer"):
        read(no_footer.encode("gbk"))


def test_a_utf8_bill_is_refused_as_wrong_encoding():
    with pytest.raises((WrongEncoding, UnsupportedFormat)):
        read(SAMPLE.read_bytes().decode("gbk").encode("utf-8"))


def test_a_generic_csv_is_not_an_alipay_bill():
    with pytest.raises(UnsupportedFormat):
        read(b"external_ref,account_no,amount,currency,paid_at\n")


def test_bad_item_lines_are_reported_with_their_line():
    text = SAMPLE.read_bytes().decode("gbk").replace("户号:0102", "无").replace("电费缴费-户号0102", "电费")
    _, items = read(text.encode("gbk"))
    errors = [i for i in items if isinstance(i, LineError)]
    assert [(e.line, "户号" in e.message) for e in errors] == [(7, True)]
