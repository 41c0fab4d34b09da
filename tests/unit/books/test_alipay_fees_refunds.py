"""The Alipay-style bill's service fees (服务费) and refund lines (退款), read from the GBK sample."""
from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest

from vouchers.books.adapters.alipay import AlipayBill
from vouchers.books.errors import FileRejected, LineError
from vouchers.books.refunds import RefundLine

SAMPLE = Path(__file__).parents[2] / "vectors" / "books" / "alipay_bill_20261125.csv"
REFUNDED = "2026112522001411231405561201"


def sample_text() -> str:
    return SAMPLE.read_bytes().decode("gbk")


def read_all(text: str) -> tuple[AlipayBill, list[object], Exception | None]:
    bill = AlipayBill(io.BytesIO(text.encode("gbk")))
    items: list[object] = []
    try:
        for item in bill:
            items.append(item)
    except FileRejected as e:
        return bill, items, e
    return bill, items, None


def edit_line(text: str, kind: str, old: str, new: str) -> str:
    """Replace ``old`` on the first item line of 业务类型 ``kind`` for the refunded trade."""
    lines = text.split("\r\n")
    i = next(n for n, line in enumerate(lines) if line.startswith(REFUNDED) and f",{kind}\t" in line)
    assert old in lines[i]
    lines[i] = lines[i].replace(old, new, 1)
    return "\r\n".join(lines)


def test_fees_per_trade_and_the_refund_line():
    bill, items, error = read_all(sample_text())
    assert error is None and len(items) == 5
    assert bill.fees == {REFUNDED: 60, "2026112522001436541408212287": 30, "2026112522001457891402934410": 53,
                         "2026112522001473321409125566": 120, "2026112522001490011400387720": 18}
    assert bill.fee_total == 281  # the footer's 服务费共：-2.81元
    assert bill.refunds == [RefundLine(9, REFUNDED, 10000, "CNY", dt.datetime(2026, 11, 25, 7, 20, 3,
                                                                            tzinfo=dt.timezone.utc),
                                       "0101", "RDF202611250000017", 60)]
    assert bill.refund_total == 10000


def test_a_trade_fee_that_disagrees_with_the_footer_is_refused():
    _, _, error = read_all(edit_line(sample_text(), "交易", ",-0.60\t", ",-0.70\t"))
    assert error is not None and "trade fees" in str(error)


def test_a_missing_refund_line_is_refused_by_the_refund_footer():
    text = "\r\n".join(line for line in sample_text().split("\r\n") if ",退款\t" not in line)
    _, _, error = read_all(text)
    assert error is not None and "refund footer" in str(error)


def test_a_trade_fee_above_the_amount_is_a_line_error():
    text = edit_line(sample_text(), "交易", ",-0.60\t", ",-100.60\t").replace("服务费共：-2.81元", "服务费共：-102.81元")
    bill, items, error = read_all(text)
    assert error is None
    errors = [i for i in items if isinstance(i, LineError)]
    assert [(e.line, e.external_ref, "服务费" in e.message) for e in errors] == [(6, REFUNDED, True)]
    assert REFUNDED not in bill.fees


def test_a_malformed_refund_line_is_a_line_error():
    bill, items, error = read_all(edit_line(sample_text(), "退款", ",100.00\t", ",1O0.00\t"))
    assert [(i.line, "refund line" in i.message) for i in items if isinstance(i, LineError)] == [(9, True)]
    assert bill.refunds == []


@pytest.mark.parametrize("kind, line", [("交易", 6), ("退款", 9)])
def test_a_trade_number_a_spreadsheet_would_run_as_a_formula_is_a_line_error(kind, line):
    _, items, _ = read_all(edit_line(sample_text(), kind, REFUNDED, "=1+2"))
    errors = [i for i in items if isinstance(i, LineError)]
    assert [e.line for e in errors] == [line]
    assert "formula" in errors[0].message


@pytest.mark.parametrize("fee", ["0.00", ""])
def test_a_trade_without_a_fee_has_fee_zero(fee):
    text = edit_line(sample_text(), "交易", ",-0.60\t", f",{fee}\t").replace("服务费共：-2.81元", "服务费共：-2.21元")
    bill, _, error = read_all(text)
    assert error is None and bill.fees[REFUNDED] == 0
