"""The generic CSV reader: header, fields, line numbers, encodings."""
from __future__ import annotations

import datetime as dt
import io

import pytest

from vouchers.books.csvformat import MAX_PAYMENT, LineProblem, PaymentLine, parse_timestamp, read_generic, text_cell
from vouchers.books.errors import FileRejected, InvalidPayment, LineError, WrongEncoding
from vouchers.books.payments import validate_ref

UTC = dt.timezone.utc
HEADER = b"external_ref,account_no,amount,currency,paid_at\n"


def items(body: bytes) -> list[PaymentLine | LineError]:
    return list(read_generic(io.BytesIO(HEADER + body)))


def test_good_lines():
    (line,) = items(b"R1,0101,12.5,CNY,2026-11-25T10:00:00+08:00\n")
    assert line == PaymentLine(2, "R1", "0101", 1250, "CNY", dt.datetime(2026, 11, 25, 2, tzinfo=UTC))


def test_bom_crlf_quotes_and_blank_lines_are_fine():
    data = "\ufeff".encode() + HEADER.replace(b"\n", b"\r\n") + b'"R1","0101","1.00","CNY","2026-11-25 10:00"\r\n\r\n'
    (line,) = list(read_generic(io.BytesIO(data)))
    assert (line.line, line.paid_at) == (2, dt.datetime(2026, 11, 25, 2, tzinfo=UTC))


@pytest.mark.parametrize("text, expected", [
    ("2026-11-25T10:00:00+08:00", dt.datetime(2026, 11, 25, 2, tzinfo=UTC)),
    ("2026-11-25T10:00:00Z", dt.datetime(2026, 11, 25, 10, tzinfo=UTC)),
    ("2026-11-25 10:00:00.123456", dt.datetime(2026, 11, 25, 2, 0, 0, 123456, tzinfo=UTC)),
    ("2026-11-25T10:00-0500", dt.datetime(2026, 11, 25, 15, tzinfo=UTC)),
])
def test_timestamps(text, expected):
    assert parse_timestamp(text) == expected


@pytest.mark.parametrize("text", ["2026-11-25", "yesterday", "2026-02-30T10:00:00", "2026-11-25T25:00:00",
                                  "2026-11-25T10:00:00+15:00", "1700000000", "0001-01-01T00:00:00+14:00"])
def test_bad_timestamps(text):
    with pytest.raises(LineProblem):
        parse_timestamp(text)


def test_a_payment_before_2000_is_a_line_error():
    found = items(b"R1,0101,1.00,CNY,2000-01-01T00:00:00Z\nR2,0101,1.00,CNY,2000-01-01T07:59:00+08:00\n"
                  b"R3,0101,1.00,CNY,1900-01-01T00:00:00Z\nR4,0101,1.00,CNY,0001-01-01T00:00:00+14:00\n")
    assert isinstance(found[0], PaymentLine)
    assert [(e.line, e.external_ref) for e in found[1:]] == [(3, "R2"), (4, "R3"), (5, "R4")]
    assert "before 2000-01-01T08:00:00+08:00" in found[1].message and "before" in found[2].message


def test_an_amount_over_the_cap_is_a_line_error():
    found = items(b"R1,0101,100000000.00,CNY,2026-11-25T10:00:00Z\nR2,0101,100000000.01,CNY,2026-11-25T10:00:00Z\n"
                  b"R3,0101,999999999999999.99,CNY,2026-11-25T10:00:00Z\n")
    assert isinstance(found[0], PaymentLine) and found[0].amount == MAX_PAYMENT == 10**10
    assert [(e.line, e.external_ref) for e in found[1:]] == [(3, "R2"), (4, "R3")]
    assert all("maximum of 100000000.00" in e.message for e in found[1:])


def test_errors_carry_physical_line_numbers_even_after_a_multiline_field():
    body = b'R1,0101,1.00,CNY,2026-11-25T10:00:00Z\n"R\n2",0101,1.00,CNY,2026-11-25T10:00:00Z\nR3,0101,x,CNY,2026-11-25T10:00:00Z\n'
    found = items(body)
    assert isinstance(found[0], PaymentLine)
    assert [(e.line, e.external_ref) for e in found[1:]] == [(3, "R\n2"), (5, "R3")]


def test_header_is_required():
    with pytest.raises(FileRejected, match="header"):
        list(read_generic(io.BytesIO(b"ref,acc,amount\n")))
    with pytest.raises(FileRejected, match="empty"):
        list(read_generic(io.BytesIO(b"")))


def test_gbk_is_refused_with_the_line_number():
    with pytest.raises(WrongEncoding, match="line 3"):
        items(b"R1,0101,1.00,CNY,2026-11-25T10:00:00Z\n" + "R2,0101,1.00,CNY,二〇二六\n".encode("gbk"))


FORMULAS = ["=1+2", '=HYPERLINK("http://x";"y")', "+1", "-A1", "@SUM(A1)", "=cmd|' /C calc'!A0"]


@pytest.mark.parametrize("ref", FORMULAS)
def test_a_ref_a_spreadsheet_would_run_as_a_formula_is_refused_with_a_clear_error(ref):
    field = '"' + ref.replace('"', '""') + '"'
    (error,) = items(f"{field},0101,1.00,CNY,2026-11-25T10:00:00+08:00\n".encode())
    assert isinstance(error, LineError) and "formula" in error.message


@pytest.mark.parametrize("ref", ["A=1", "x-1", "R@2", "1+1", "#5", "'quoted", "(1)"])
def test_such_characters_later_in_a_ref_are_fine(ref):
    (line,) = items(f"{ref},0101,1.00,CNY,2026-11-25T10:00:00+08:00\n".encode())
    assert isinstance(line, PaymentLine) and line.external_ref == ref


@pytest.mark.parametrize("ref", FORMULAS + ["\tR1", "R1\r", " R1", "R,1", ""])
def test_validate_ref_refuses_formulas_and_control_characters(ref):
    with pytest.raises(InvalidPayment):
        validate_ref(ref)


@pytest.mark.parametrize("value, cell", [
    ("=1+2", "'=1+2"), ("+1", "'+1"), ("-A1", "'-A1"), ("@x", "'@x"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("Xiamen", "Xiamen"), ("", ""), ("a=b", "a=b"), ("'x", "'x"),
])
def test_text_cell_neutralises_only_a_leading_formula_character(value, cell):
    assert text_cell(value) == cell
