"""The fast path's block check: never more lenient than the reference parser, whatever the block boundaries."""
from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vouchers.books.csvformat import PaymentLine, read_generic
from vouchers.books.fastcsv import BlockChecker

HEADER = b"external_ref,account_no,amount,currency,paid_at\n"
GOOD = (b"AP-1,0101,20.00,CNY,2026-11-25T09:00:00+08:00\n"
        b"AP-2,0102,12.5,USD,2026-11-25T10:30:00Z\n"
        b"AP 3,A-9,0.01,CNY,2026-11-25 10:30+0530\n"
        b"x!#~/\\,0101,99999999.99,CNY,2024-02-29T23:59:59.999999-14:00\n")


def check(data: bytes, block: int = 1 << 20) -> BlockChecker:
    checker = BlockChecker()
    for i in range(0, len(data), block):
        if not checker.feed(data[i:i + block]):
            return checker
    checker.finish()
    return checker


@pytest.mark.parametrize("block", [1, 2, 7, 64, 1 << 20])
def test_ordinary_files_pass_whatever_the_block_size(block):
    checker = check(HEADER + GOOD, block)
    assert checker.ok and checker.lines == 4 and not checker.local_times


@pytest.mark.parametrize("data", [
    HEADER,  # no lines
    HEADER.rstrip(b"\n"),  # not even a line end
    b"\xef\xbb\xbf" + HEADER + GOOD,  # BOM
    HEADER.replace(b"\n", b"\r\n") + GOOD.replace(b"\n", b"\r\n"),  # CRLF
    HEADER + GOOD.rstrip(b"\n"),  # the last line without a line end
])
def test_accepted_shapes(data):
    assert check(data).ok and check(data, 3).ok


def test_a_time_without_offset_is_flagged_as_local():
    checker = check(HEADER + GOOD + b"AP-5,0101,1.00,CNY,2026-11-25 18:00:00\n", 5)
    assert checker.ok and checker.local_times
    last = check(HEADER + GOOD + b"AP-5,0101,1.00,CNY,2026-11-25 18:00")  # also as the last line, no line end
    assert last.ok and last.local_times


@pytest.mark.parametrize("line", [
    b"",  # blank line (the reference skips it; the fast path need not)
    b'"AP-9",0101,1.00,CNY,2026-11-25T09:00:00+08:00',  # quoting
    b'AP"9,0101,1.00,CNY,2026-11-25T09:00:00+08:00',
    b" AP-9,0101,1.00,CNY,2026-11-25T09:00:00+08:00",
    b"AP-9 ,0101,1.00,CNY,2026-11-25T09:00:00+08:00",
    b"x" * 65 + b",0101,1.00,CNY,2026-11-25T09:00:00+08:00",
    b",0101,1.00,CNY,2026-11-25T09:00:00+08:00",
    b"AP-9,-0101,1.00,CNY,2026-11-25T09:00:00+08:00",
    b"AP-9,0" * 1 + b"1_1,1.00,CNY,2026-11-25T09:00:00+08:00",
    b"AP-9,0101,0,CNY,2026-11-25T09:00:00+08:00",
    b"AP-9,0101,0.00,CNY,2026-11-25T09:00:00+08:00",
    b"AP-9,0101,0.0,CNY,2026-11-25T09:00:00+08:00",
    b"AP-9,0101,01.00,CNY,2026-11-25T09:00:00+08:00",
    b"AP-9,0101,1.001,CNY,2026-11-25T09:00:00+08:00",
    b"AP-9,0101,1e3,CNY,2026-11-25T09:00:00+08:00",
    b"AP-9,0101,.5,CNY,2026-11-25T09:00:00+08:00",
    b"AP-9,0101,1.,CNY,2026-11-25T09:00:00+08:00",
    b"AP-9,0101,1000000000000000,CNY,2026-11-25T09:00:00+08:00",
    b"AP-9,0101,999999999999999.99,CNY,2026-11-25T09:00:00+08:00",  # over the cap per payment
    b"AP-9,0101,100000000.01,CNY,2026-11-25T09:00:00+08:00",
    b"AP-9,0101,100000000.00,CNY,2026-11-25T09:00:00+08:00",  # the cap itself: the reference parser reads it
    b"AP-9,0101,1.00,JPY,2026-11-25T09:00:00+08:00",
    b"AP-9,0101,1.00,cny,2026-11-25T09:00:00+08:00",
    b"AP-9,0101,1.00,CNY,2026-11-25T24:00:00+08:00",
    b"AP-9,0101,1.00,CNY,2026-11-25T23:60:00+08:00",
    b"AP-9,0101,1.00,CNY,2026-11-25T23:59:60+08:00",
    b"AP-9,0101,1.00,CNY,2026-13-25T09:00:00+08:00",
    b"AP-9,0101,1.00,CNY,0999-11-25T09:00:00+08:00",
    b"AP-9,0101,1.00,CNY,1999-12-31T23:59:59Z",  # before 2000-01-01T00:00Z: the reference parser refuses it
    b"AP-9,0101,1.00,CNY,2000-01-01T07:59:00+08:00",  # year 2000: left to the reference parser's exact bound
    b"AP-9,0101,1.00,CNY,2026-11-25T09:00:00+15:00",
    b"AP-9,0101,1.00,CNY,2026-11-25T09:00:00+08",
    b"AP-9,0101,1.00,CNY,2026-11-25T09:00:00.1234567Z",
    b"AP-9,0101,1.00,CNY,2026-11-25",
    b"AP-9,0101,1.00,CNY,yesterday",
    b"AP-9,0101,1.00,CNY",
    b"AP-9,0101,1.00,CNY,2026-11-25T09:00:00+08:00,extra",
    "AP-9,0101,1.00,CNY,2026年".encode("gbk"),
    "中文,0101,1.00,CNY,2026-11-25T09:00:00+08:00".encode(),
    # a reference a spreadsheet would run as a formula (the reference parser refuses it)
    b"=1+2,0101,1.00,CNY,2026-11-25T09:00:00+08:00",
    b"+1,0101,1.00,CNY,2026-11-25T09:00:00+08:00",
    b"-A1,0101,1.00,CNY,2026-11-25T09:00:00+08:00",
    b"@SUM(A1),0101,1.00,CNY,2026-11-25T09:00:00+08:00",
    b"\tAP-9,0101,1.00,CNY,2026-11-25T09:00:00+08:00",
])
@pytest.mark.parametrize("where", ["middle", "last"])
def test_unusual_or_bad_lines_send_the_file_to_the_reference_parser(line, where):
    data = HEADER + (GOOD + line + b"\n" + GOOD if where == "middle" else GOOD + (line or b"\n"))
    assert not check(data).ok
    assert not check(data, 3).ok


@pytest.mark.parametrize("header", [b"external_ref, account_no,amount,currency,paid_at\n", b"ref,account\n",
                                    b"external_ref,account_no,amount,currency,paid_at,x\n", b""])
def test_any_other_header_goes_to_the_reference_parser(header):
    assert not check(header + GOOD).ok


def test_a_long_line_is_refused_without_being_held():
    checker = BlockChecker()
    assert checker.feed(HEADER + GOOD)
    assert not checker.feed(b"x" * 100_000)  # no line end in sight: refused at once
    assert not checker.finish()


pieces = st.sampled_from([b"AP-1", b"a b", b" x", b"x ", b"", b'"q"', b"t\tab", b"0101", b"A-9", b"-1", b"0",
                          b"0.00", b"0.01", b"1", b"1.5", b"12.50", b"99999999.99", b"100000000",
                          b"100000000.01", b"999999999999999.99", b"CNY", b"USD", b"JPY",
                          b"2026-11-25T10:00:00+08:00", b"1999-12-31T23:00Z", b"2000-01-01T00:30+01:00",
                          b"2000-01-01T00:00Z", b"2001-01-01T00:00+14:00",
                          b"2026-11-25 10:00", b"2026-02-30T10:00:00Z", b"2026-11-25T10:00:00+0530", b"\xe4\xb8\xad",
                          b",", b"\r", b"\n", b"=1+2", b"+1", b"@A1", b"-A1", b"A=1"])


@settings(max_examples=400, deadline=None)
@given(fields=st.lists(pieces, min_size=4, max_size=7), block=st.integers(1, 40))
def test_whatever_passes_the_check_the_reference_parser_reads_alike(fields, block):
    data = HEADER + b",".join(fields) + b"\n"
    checker = check(data, block)
    if not checker.ok:
        return
    # the 30th of February passes the byte check: PostgreSQL's typing refuses it (then the reference parser reads)
    if b"2026-02-30" in data:
        return
    lines = data.splitlines()[1:]
    items = list(read_generic(io.BytesIO(data)))
    assert checker.lines == len(lines) == len(items)
    for raw, item in zip(lines, items):
        assert isinstance(item, PaymentLine), (raw, item)
        ref, account, _, currency, _ = raw.rstrip(b"\r").decode().split(",")
        assert (item.external_ref, item.account_no, item.currency) == (ref, account, currency)
