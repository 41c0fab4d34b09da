"""Outputs finance signs (issue 22), through the CLI in-process: business time with the offset at the day
boundary, money as people write it in the PDFs (read back with pdftotext), CSVs for Excel, files 0600,
and the one collection report behind both of its command names."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import shutil
import subprocess
import zoneinfo
from pathlib import Path

import pytest

from vouchers.storage.db import make_engine, session_factory
from voucherctl import context
from tests.inprocess_cli import in_process_cli
from tests.integration.books.conftest import make_batch

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
LAST_MINUTE = dt.datetime(2026, 11, 26, 23, 59, 30, tzinfo=SHANGHAI)  # 15:59:30 UTC
NEXT_DAY = dt.datetime(2026, 11, 27, 0, 0, 30, tzinfo=SHANGHAI)  # 16:00:30 UTC, still the 26th in UTC


@pytest.fixture
def cli(db_url, tmp_path, monkeypatch, capsys):
    yield from in_process_cli(db_url, tmp_path / "home", monkeypatch, capsys, now=LAST_MINUTE)


def ok(result: tuple[int, str, str]) -> str:
    code, out, err = result
    assert code == 0, err
    return out


def pdf_text(path: Path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("poppler-utils not installed")
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


def private(path: Path) -> bool:
    return path.stat().st_mode & 0o777 == 0o600


def test_distributor_statement_in_business_time_with_money_formatted(cli, db_url, tmp_path, monkeypatch) -> None:
    engine = make_engine(db_url)
    with session_factory(engine).begin() as s:
        stock = make_batch(s, count=400, face_value=5000)
    engine.dispose()
    ok(cli("batch", "activate", stock.batch_id, "--distributor", "SHOP-1", "--from", stock.serial(1), "--to",
           stock.serial(300), "--json"))  # 23:59 on the 26th in Beijing
    monkeypatch.setattr(context, "now", lambda: NEXT_DAY)
    ok(cli("batch", "activate", stock.batch_id, "--distributor", "SHOP-1", "--from", stock.serial(301), "--to",
           stock.serial(302), "--json"))  # 00:00 on the 27th in Beijing: not in the 26th's statement
    out_csv, out_pdf = tmp_path / "statement.csv", tmp_path / "statement.pdf"
    text = ok(cli("report", "distributor", "SHOP-1", "--from", "2026-11-26", "--to", "2026-11-26",
                  "--csv", str(out_csv), "--pdf", str(out_pdf), "--excel"))
    statement, as_of = text.rstrip("\n").rsplit("\n", 1)  # the last line: the data's as-of (the read time)
    assert "2026-11-26 23:59 (UTC+8)" in statement and "2026-11-27" not in statement
    assert as_of == "data as of 2026-11-27 00:00:30 (UTC+8): live (read from the primary)"
    raw = out_csv.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # --excel
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert [(r["at"], r["kind"], r["amount"]) for r in rows] == [("2026-11-26T23:59:30+08:00", "activation",
                                                                  "15000.00")]
    assert private(out_csv) and private(out_pdf)
    document = json.loads(ok(cli("report", "distributor", "SHOP-1", "--from", "2026-11-27", "--to", "2026-11-27",
                                 "--json")))
    assert [line["at"] for line in document["lines"]] == ["2026-11-27T00:00:30+08:00"]
    shown = pdf_text(out_pdf)
    assert "¥15,000.00" in shown  # 300 cards x 50.00 owed: grouped, with the currency sign
    assert "2026-11-26 23:59 (UTC+8)" in shown and "+00:00" not in shown


def test_one_collection_report_behind_both_commands(cli, tmp_path) -> None:
    ok(cli("accounts", "create", "--account-no", "3100000001", "--name", "东湖区客户", "--arrears", "10529.88",
           "--json"))
    by_month = json.loads(ok(cli("collection", "report", "--month", "2026-11", "--json")))
    by_days = json.loads(ok(cli("report", "collection", "--from", "2026-11-01", "--to", "2026-11-30", "--json")))
    assert by_month == by_days  # one service, one document
    assert (by_month["cutoff"], by_month["month_complete"], by_month["to"]) == ("2026-11-26", False, "2026-11-26")
    text = ok(cli("collection", "report", "--month", "2026-11"))
    assert "None" not in text and "cut-off 2026-11-26 (month not ended: reported to today)" in text
    assert "CN¥10,529.88" in text
    out_csv, out_pdf = tmp_path / "c.csv", tmp_path / "c.pdf"
    ok(cli("report", "collection", "--csv", str(out_csv), "--pdf", str(out_pdf), "--excel"))
    assert out_csv.read_bytes().startswith(b"\xef\xbb\xbfsection,group,measure,value\n")
    assert "report,2026-11,cutoff,2026-11-26" in out_csv.read_text("utf-8-sig")
    assert private(out_csv) and private(out_pdf)
    shown = pdf_text(out_pdf)
    assert "¥10,529.88" in shown and "2026-11-26" in shown and "本月未结束" in shown
    assert "None" not in shown


def test_payment_and_reconciliation_in_business_time(cli, tmp_path) -> None:
    """Issue 22: the reconcile CSV showed `2026-12-06 01:00:00.000000` (no zone) and the period
    `2026-12-05T16:00:00+00:00`; now Beijing days and times with their offset, a CSV for Excel, 0600."""
    ok(cli("accounts", "create", "--account-no", "3100000001", "--name", "东湖区客户", "--json"))
    paid = json.loads(ok(cli("payments", "post", "--channel", "counter_cash", "--account-no", "3100000001",
                             "--amount", "20.00", "--ref", "C-2359", "--json")))
    assert paid["paid_at"] == "2026-11-26T23:59:30+08:00"
    settlement = tmp_path / "settle.csv"
    settlement.write_text("external_ref,account_no,amount,currency,paid_at\n"
                          "C-2359,3100000001,20.00,CNY,2026-11-26T23:59:30+08:00\n", encoding="utf-8")
    report = tmp_path / "recon.csv"
    document = json.loads(ok(cli("reconcile", "--channel", "counter_cash", str(settlement), "--csv", str(report),
                                 "--excel", "--json")))
    assert document["period"] == {"start": "2026-11-26T00:00:00+08:00", "end": "2026-11-27T00:00:00+08:00"}
    assert report.read_bytes().startswith(b"\xef\xbb\xbfstatus,") and private(report)
    rows = list(csv.DictReader(io.StringIO(report.read_text("utf-8-sig"))))
    assert [(r["status"], r["paid_at"]) for r in rows] == [("matched", "2026-11-26T23:59:30+08:00")]
    text = ok(cli("reconcile", "--channel", "counter_cash", str(settlement)))
    assert "period 2026-11-26 .. 2026-11-26 (Asia/Shanghai: 2026-11-26 00:00 (UTC+8) .. 2026-11-27 00:00 (UTC+8))" \
        in text
