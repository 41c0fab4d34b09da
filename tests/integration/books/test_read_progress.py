"""How far an import or a reconciliation has read its file (voucherctl's progress bar), on both databases."""
from __future__ import annotations

import shutil
from pathlib import Path

from vouchers.books import customers, formats
from vouchers.books.staging import ReportingReader

HEADER = "external_ref,account_no,amount,currency,paid_at\n"
ALIPAY_SAMPLE = Path(__file__).parents[2] / "vectors" / "books" / "alipay_bill_20261125.csv"


def _file(tmp_path: Path, lines: int, *, quoted_last: bool = False) -> Path:
    """A generic file well over one report interval; ``quoted_last``: a last line the PostgreSQL fast path
    refuses (quotes) and the reference parser accepts, so the file is read twice."""
    body = "".join(f"R-{i},0101,1.00,CNY,2026-11-25T10:00:00+08:00\n" for i in range(lines))
    if quoted_last:
        body += '"R-last",0101,1.00,CNY,2026-11-25T10:00:00+08:00\n'
    path = tmp_path / "pay.csv"
    path.write_text(HEADER + body, encoding="utf-8")
    return path


def _customer(sessions, now) -> None:
    with sessions.begin() as s:
        customers.create_customer(s, "0101", "张三", now=now)


def _passes(offsets: list[int]) -> list[list[int]]:
    """The offsets heard, split where a pass started over."""
    passes: list[list[int]] = [[]]
    for offset in offsets:
        if passes[-1] and offset < passes[-1][-1]:
            passes.append([])
        passes[-1].append(offset)
    return passes


def test_an_import_reports_how_far_it_has_read(sessions, now, tmp_path):
    _customer(sessions, now)
    path = _file(tmp_path, 40_000)  # over 1 MiB: the fast path reads 1 MiB blocks
    offsets: list[int] = []
    with sessions.begin() as s:
        result = formats.import_payments(s, "bank_debit", path, now=now, actor="t", on_read=offsets.append)
    assert result.booked == 40_000
    [one_pass] = _passes(offsets)  # the fast path on PostgreSQL, the reference parser on SQLite
    assert len(one_pass) >= 2 and one_pass[-1] == path.stat().st_size
    assert all(b - a >= ReportingReader.EVERY for a, b in zip(one_pass, one_pass[1:-1]))  # now and then only


def test_a_refused_fast_path_reads_again_from_the_start(sessions, now, tmp_path):
    _customer(sessions, now)
    path = _file(tmp_path, 12_000, quoted_last=True)
    offsets: list[int] = []
    with sessions.begin() as s:
        assert formats.import_payments(s, "bank_debit", path, now=now, actor="t",
                                       on_read=offsets.append).booked == 12_001
    passes = _passes(offsets)
    assert len(passes) == (2 if sessions.kw["bind"].dialect.name == "postgresql" else 1)
    assert all(p == sorted(p) and p[-1] == path.stat().st_size for p in passes)


def test_reconciliation_reports_how_far_it_has_read(sessions, now, tmp_path):
    _customer(sessions, now)
    path = _file(tmp_path, 40_000)
    with sessions.begin() as s:
        formats.import_payments(s, "bank_debit", path, now=now, actor="t")
    offsets: list[int] = []
    with sessions.begin() as s:
        result = formats.reconcile_payments(s, "bank_debit", path, now=now, actor="t", on_read=offsets.append)
    assert result.matched == 40_000
    [one_pass] = _passes(offsets)
    assert len(one_pass) >= 2 and one_pass[-1] == path.stat().st_size


def test_an_alipay_bill_reports_its_bytes_too(sessions, now, tmp_path):
    with sessions.begin() as s:
        for no in ("0101", "0102", "0103", "0104"):
            customers.create_customer(s, no, f"户主{no}", now=now)
    bill = tmp_path / ALIPAY_SAMPLE.name
    shutil.copy(ALIPAY_SAMPLE, bill)
    for run in (formats.import_payments, formats.reconcile_payments):
        offsets: list[int] = []
        with sessions.begin() as s:
            run(s, "alipay", bill, fmt="alipay", now=now, actor="t", on_read=offsets.append)
        assert offsets == [bill.stat().st_size]  # a small file: one report, at its end
