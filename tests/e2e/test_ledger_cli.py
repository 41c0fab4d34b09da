"""The books through ``voucherctl``, in process, on SQLite and PostgreSQL."""
from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
import subprocess
import sys
import zoneinfo
from pathlib import Path

import pytest
from sqlalchemy import text

from vouchers.books import energy_sales, payments
from vouchers.storage.db import make_engine, session_factory
from tests.integration.books.conftest import make_batch
from tests.inprocess_cli import in_process_cli
from voucherctl import context

ALIPAY_SAMPLE = Path(__file__).parents[1] / "vectors" / "books" / "alipay_bill_20261125.csv"
HEADER = "external_ref,account_no,amount,currency,paid_at\n"
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


@pytest.fixture
def cli(db_url, tmp_path, monkeypatch, capsys):
    """``cli(*argv) -> (exit code, stdout, stderr)`` against a migrated database."""
    yield from in_process_cli(db_url, tmp_path / "home", monkeypatch, capsys)


@pytest.fixture
def cli_on_the_26th(db_url, tmp_path, monkeypatch, capsys):
    """``cli`` with its clock at 2026-11-26 10:00 in Beijing."""
    yield from in_process_cli(db_url, tmp_path / "home", monkeypatch, capsys,
                              now=dt.datetime(2026, 11, 26, 10, tzinfo=SHANGHAI))


def ok_json(result: tuple[int, str, str]) -> dict:
    code, out, err = result
    assert code == 0, err
    return json.loads(out)


def fails(result: tuple[int, str, str], fragment: str) -> None:
    code, out, err = result
    assert code != 0
    lines = err.strip().splitlines()
    assert lines and lines[-1].startswith("voucherctl: error:") and fragment in lines[-1], err


@pytest.fixture
def stock(db_url):
    engine = make_engine(db_url)
    with session_factory(engine).begin() as s:
        batch = make_batch(s, count=10, face_value=5000)
    engine.dispose()
    return batch


def test_accounts(cli):
    created = ok_json(cli("accounts", "create", "--account-no", "3100123456", "--name", "张三", "--meter", "M-9",
                          "--arrears", "12.34", "--json"))
    assert (created["account_no"], created["balance"], created["arrears"], created["meter_no"]) == \
        ("3100123456", "0.00", "12.34", "M-9")
    assert ok_json(cli("accounts", "show", "3100123456", "--json"))["arrears"] == "12.34"
    fails(cli("accounts", "create", "--account-no", "3100123456", "--name", "again", "--json"), "already exists")
    fails(cli("accounts", "create", "--account-no", "31001", "--name", "x", "--arrears", "-5"), "--arrears")
    fails(cli("accounts", "show", "999"), "unknown account")


def test_consigning_stock_to_a_distributor(cli, stock):
    shipped = ok_json(cli("batch", "consign", stock.batch_id, "--distributor", "SHOP-1", "--from", stock.serial(1),
                          "--to", stock.serial(4), "--operator", "carol", "--json"))
    assert (shipped["count"], shipped["consigned"], shipped["moved_from"]) == (4, 4, {})
    assert ok_json(cli("batch", "show", stock.batch_id, "--json"))["stock_by_holder"] == [
        {"consigned_to": "SHOP-1", "status": "inactive", "count": 4},
        {"consigned_to": None, "status": "inactive", "count": 6}]
    code, out, err = cli("batch", "consign", stock.batch_id, "--distributor", "SHOP-1", "--from", stock.serial(1),
                         "--to", stock.serial(4), "--operator", "carol")
    assert code == 0 and "already its stock: nothing changed" in out, err
    fails(cli("batch", "consign", stock.batch_id, "--distributor", "SHOP-2", "--operator", "carol"),
          "4 of 10 cards in that range are consigned to another distributor")
    fails(cli("batch", "activate", stock.batch_id, "--distributor", "SHOP-2", "--from", stock.serial(3),
              "--to", stock.serial(5)), "consigned to another distributor")
    fails(cli("batch", "consign", stock.batch_id, "--distributor", "SHOP-2", "--operator", "carol", "--from",
              stock.serial(2)), "give both --from and --to")
    fails(cli("batch", "consign", stock.batch_id, "--distributor", "SHOP-2"), "--operator")
    moved = ok_json(cli("batch", "consign", stock.batch_id, "--distributor", "SHOP-2", "--operator", "carol",
                        "--reassign", "--json"))
    assert (moved["consigned"], moved["moved_from"]) == (10, {"SHOP-1": 4})
    sold = ok_json(cli("batch", "activate", stock.batch_id, "--distributor", "SHOP-2", "--json"))
    assert sold["count"] == 10


def test_sale_redemption_expiry_and_reports(cli_on_the_26th, stock, db_url, tmp_path, monkeypatch):
    cli = cli_on_the_26th  # the stock is valid to 2027-12-31: sold on the 26th, expired in 2028 below
    ok_json(cli("accounts", "create", "--account-no", "0101", "--name", "张三", "--arrears", "20.00", "--json"))
    ok_json(cli("ledger", "commission", "--distributor", "SHOP-1", "--rate", "2%", "--operator", "mkt", "--json"))
    sold = ok_json(cli("batch", "activate", stock.batch_id, "--distributor", "SHOP-1", "--from", stock.serial(1),
                       "--to", stock.serial(6), "--json"))
    assert (sold["count"], sold["face_total"], sold["commission_total"], sold["receivable"]) == \
        (6, "300.00", "6.00", "294.00")
    fails(cli("batch", "activate", stock.batch_id, "--distributor", "SHOP-1", "--from", stock.serial(6),
              "--to", stock.serial(7)), "not inactive")

    liability = ok_json(cli("report", "liability", "--json"))
    assert {k: liability[k] for k in ("currency", "total", "ledger_balance")} == \
        {"currency": "CNY", "total": "300.00", "ledger_balance": "300.00"}
    assert liability["by_batch"] == [{"batch_id": stock.batch_id, "active_count": 6, "liability": "300.00",
                                      "face_value": "50.00"}]
    assert liability["roll_forward"]["closes"] is True

    monkeypatch.setattr(context, "now", lambda: dt.datetime(2028, 1, 1, 9, tzinfo=SHANGHAI))  # past their last day
    expired = ok_json(cli("vouchers", "expire", "--as-of", "2028-01-01", "--json"))
    assert (expired["expired"], expired["amounts"]) == (6, {"CNY": "300.00"})
    assert ok_json(cli("report", "liability", "--json"))["total"] == "0.00"
    assert ok_json(cli("report", "breakage", "--from", "2000-01-01", "--to", "2100-01-01", "--json"))["amount"] \
        == "300.00"
    trial = ok_json(cli("report", "trial-balance", "--json"))
    assert trial["balanced"] and trial["total_debit"] == trial["total_credit"]
    statement = ok_json(cli("report", "distributor", "SHOP-1", "--from", "2000-01-01", "--json"))
    assert (statement["closing"], statement["sold_count"], statement["closes"]) == ("294.00", 6, True)
    verified = ok_json(cli("ledger", "verify", "--json"))
    assert verified["ok"] and verified["problems"] == []


def test_distributor_statement_csv_neutralises_a_formula_reference_not_the_amounts(cli, stock, tmp_path):
    ok_json(cli("batch", "activate", stock.batch_id, "--distributor", "SHOP-1", "--from", stock.serial(1),
                "--to", stock.serial(2), "--json"))
    ok_json(cli("ledger", "remit", "--distributor", "SHOP-1", "--amount", "10.00", "--ref", "-A1+A2",
                "--operator", "fin", "--json"))
    out = tmp_path / "statement.csv"
    ok_json(cli("report", "distributor", "SHOP-1", "--from", "2000-01-01", "--csv", str(out), "--json"))
    with out.open(encoding="utf-8", newline="") as f:
        rows = {r["kind"]: r for r in csv.DictReader(f)}
    assert (rows["remittance"]["reference"], rows["remittance"]["amount"]) == ("'-A1+A2", "-10.00")
    assert rows["activation"]["reference"].startswith(stock.batch_id)


def test_expiry_refuses_an_as_of_after_the_business_today(cli, stock, monkeypatch):
    """Expiring as of a future day would book cards still valid to breakage, irreversibly."""
    # 20:00 UTC on the 26th is already the 27th in Beijing (VOUCHER_TIMEZONE's default); the sale is made at
    # that time too (with the real clock, a sale after the as-of day would not be in its liability)
    monkeypatch.setattr(context, "now", lambda: dt.datetime(2026, 11, 26, 20, tzinfo=dt.timezone.utc))
    ok_json(cli("batch", "activate", stock.batch_id, "--distributor", "SHOP-1", "--json"))
    for as_of in ("9999-12-31", "2027-12-31", "2026-11-28"):
        fails(cli("vouchers", "expire", "--as-of", as_of, "--json"), f"as-of date {as_of} is in the future")
    assert ok_json(cli("vouchers", "expire", "--as-of", "2026-11-27", "--json"))["expired"] == 0
    liability = ok_json(cli("report", "liability", "--json"))
    assert (liability["total"], liability["ledger_balance"], liability["active_count"]) == ("500.00", "500.00", 10)
    assert ok_json(cli("ledger", "verify", "--json"))["ok"]


def test_payments_import_reconcile_and_reports(cli_on_the_26th, tmp_path):
    cli = cli_on_the_26th
    for no in ("0101", "0102", "0103", "0104"):
        ok_json(cli("accounts", "create", "--account-no", no, "--name", f"户主{no}", "--json"))
    bill = tmp_path / ALIPAY_SAMPLE.name
    shutil.copy(ALIPAY_SAMPLE, bill)
    imported = ok_json(cli("payments", "import", "--channel", "alipay", "--format", "alipay", str(bill), "--json"))
    assert (imported["booked"], imported["amounts"], len(imported["skipped"])) == (5, {"CNY": "469.38"}, 1)
    again = ok_json(cli("payments", "import", "--channel", "alipay", "--format", "alipay", str(bill), "--json"))
    assert (again["booked"], again["duplicates"]) == (0, 5)

    report_csv = tmp_path / "recon.csv"
    recon = ok_json(cli("reconcile", "--channel", "alipay", "--format", "alipay", str(bill), "--json",
                        "--csv", str(report_csv)))
    # the bill's refund reverses its first trade; the other four settle net of Alipay's fees
    assert {k: recon[k] for k in ("matched", "missing_in_books", "missing_in_file", "amount_mismatch")} == \
        {"matched": 4, "missing_in_books": [], "missing_in_file": [], "amount_mismatch": []}
    assert (recon["settled"]["amounts"], recon["settled"]["fees"], recon["settled"]["net"]) == \
        ({"CNY": "369.38"}, {"CNY": "2.21"}, {"CNY": "367.17"})
    assert [(r["external_ref"], r["status"]) for r in recon["refunds"]] == \
        [("2026112522001411231405561201", "reversed")]
    assert "refund_reversed,2026112522001411231405561201" in report_csv.read_text(encoding="utf-8")
    assert report_csv.read_text(encoding="utf-8").startswith("status,external_ref")
    again = ok_json(cli("reconcile", "--channel", "alipay", "--format", "alipay", str(bill), "--json"))
    assert (again["settled"]["count"], again["refunds"][0]["status"]) == (0, "already_reversed")
    code, out, _ = cli("reconcile", "--channel", "alipay", "--format", "alipay", str(bill))
    assert code == 0 and "refunds: already_reversed 1" in out

    generic = tmp_path / "bank.csv"
    generic.write_text(HEADER + "B-1,0101,10.00,CNY,2026-11-25T10:00:00+08:00\n", encoding="utf-8")
    ok_json(cli("payments", "import", "--channel", "bank_counter", str(generic), "--json"))
    channels = ok_json(cli("report", "channels", "--from", "2026-11-01", "--to", "2026-11-30", "--by", "day",
                           "--json"))
    assert {t["channel"]: (t["count"], t["amount"]) for t in channels["totals"]} == \
        {"bank_counter": (1, "10.00"), "alipay": (4, "369.38")}
    assert channels["totals"][1]["count_share"] == "80.00"
    # what Alipay kept when it settled the bill (in the period of the settlement)
    assert ({t["channel"]: t["fees"] for t in channels["totals"]}, channels["fees"]) == \
        ({"bank_counter": "0.00", "alipay": "2.21"}, "2.21")
    trial = ok_json(cli("report", "trial-balance", "--as-of", "2026-12-31", "--json"))
    assert [(x["debit"], x["credit"]) for x in trial["lines"] if x["account"] == "expense:channel_fees"] == \
        [("2.21", "0.00")]
    pdf = tmp_path / "finance.pdf"
    ok_json(cli("report", "liability", "--from", "2026-11-01", "--json", "--pdf", str(pdf)))
    _pdf_renders_with_embedded_fonts(pdf, tmp_path)
    assert ok_json(cli("ledger", "verify", "--json"))["ok"]


def test_finance_reverses_a_wrongly_booked_energy_sale(cli, db_url):
    ok_json(cli("accounts", "create", "--account-no", "0401", "--name", "户主", "--json"))
    engine = make_engine(db_url)
    with session_factory(engine).begin() as s:
        paid = dt.datetime(2026, 11, 25, 10, tzinfo=dt.timezone.utc)
        payments.post_payment(s, "counter_cash", "0401", 5000, "C-1", paid, paid)
    with session_factory(engine).begin() as s:
        sale = energy_sales.book_energy_sale(s, "0401", 2000, external_ref="sts_vend:9", occurred_at=paid, now=paid)
    engine.dispose()
    assert ok_json(cli("accounts", "show", "0401", "--json"))["balance"] == "30.00"
    reversed_ = ok_json(cli("ledger", "reverse", str(sale.transaction_id), "--reason", "vended twice",
                            "--operator", "finance", "--json"))
    assert reversed_["reversed"] == sale.transaction_id
    assert ok_json(cli("accounts", "show", "0401", "--json"))["balance"] == "50.00"
    fails(cli("ledger", "reverse", str(sale.transaction_id), "--reason", "again", "--operator", "finance"),
          "already reversed")
    assert ok_json(cli("ledger", "verify", "--json"))["ok"]


def test_bad_files_and_channels(cli, tmp_path):
    ok_json(cli("accounts", "create", "--account-no", "0101", "--name", "张三", "--json"))
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "R1,0101,10.00,CNY,2026-11-25T10:00:00+08:00\nR2,0999,-1,CNY,soon\n", encoding="utf-8")
    code, out, err = cli("payments", "import", "--channel", "pos_card", str(bad), "--json")
    assert code == 1
    report = json.loads(out)["error"]
    assert report["code"] == "file_rejected" and report["lines"][0]["line"] == 3
    assert err.strip().splitlines()[-1].startswith("voucherctl: error:")
    fails(cli("payments", "import", "--channel", "paypal", str(bad)), "unknown channel")
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes((HEADER + "R3,0101,1.00,CNY,2026年11月25日\n").encode("gbk"))
    fails(cli("payments", "import", "--channel", "pos_card", str(gbk)), "not valid UTF-8")
    fails(cli("payments", "import", "--channel", "alipay", "--format", "alipay", str(bad)), "not an Alipay bill")
    fails(cli("reconcile", "--channel", "voucher", str(bad), "--json"), "no settlement file")
    assert ok_json(cli("accounts", "show", "0101", "--json"))["balance"] == "0.00"


def test_a_channel_format_books_under_its_own_channel_only(cli, tmp_path):
    """An Alipay bill booked as wechat_pay as well would be booked twice, and verify would not notice."""
    for no in ("0101", "0102", "0103", "0104"):
        ok_json(cli("accounts", "create", "--account-no", no, "--name", f"户主{no}", "--json"))
    bill = tmp_path / ALIPAY_SAMPLE.name
    shutil.copy(ALIPAY_SAMPLE, bill)
    for command in (("payments", "import"), ("reconcile",)):
        fails(cli(*command, "--channel", "wechat_pay", "--format", "alipay", str(bill), "--json"),
              "format alipay is the bill of channel alipay")
    assert ok_json(cli("report", "channels", "--from", "2026-11-01", "--to", "2026-11-30", "--json"))["count"] == 0
    assert ok_json(cli("payments", "import", "--channel", "alipay", "--format", "alipay", str(bill),
                       "--json"))["booked"] == 5


def test_one_payment_of_an_imported_file_is_reversed_alone(cli, tmp_path):
    ok_json(cli("accounts", "create", "--account-no", "0101", "--name", "张三", "--arrears", "30.00", "--json"))
    ok_json(cli("accounts", "create", "--account-no", "0102", "--name", "李四", "--json"))
    bank = tmp_path / "bank.csv"
    bank.write_text(HEADER + "B-1,0101,50.00,CNY,2026-11-25T10:00:00+08:00\n"
                    "B-2,0102,20.00,CNY,2026-11-25T11:00:00+08:00\n", encoding="utf-8")
    [txn] = ok_json(cli("payments", "import", "--channel", "bank_debit", str(bank), "--json"))["transaction_ids"]
    fails(cli("ledger", "reverse", str(txn), "--reason", "x", "--operator", "finance"), "its own process")

    reversed_ = ok_json(cli("payments", "reverse", "--channel", "bank_debit", "--ref", "B-1", "--reason",
                            "debited twice by the bank", "--operator", "finance", "--json"))
    assert {k: reversed_[k] for k in ("external_ref", "account_no", "amount", "currency", "status")} == \
        {"external_ref": "B-1", "account_no": "0101", "amount": "50.00", "currency": "CNY", "status": "reversed"}
    account = ok_json(cli("accounts", "show", "0101", "--json"))
    assert (account["balance"], account["arrears"]) == ("0.00", "30.00")  # the opening bill is open again
    assert ok_json(cli("accounts", "show", "0102", "--json"))["balance"] == "20.00"  # the other line stays
    assert ok_json(cli("ledger", "verify", "--json"))["ok"]
    fails(cli("payments", "reverse", str(reversed_["payment_id"]), "--reason", "again", "--operator", "finance"),
          "already reversed")
    fails(cli("payments", "reverse", "--channel", "bank_debit", "--ref", "NOPE", "--reason", "x", "--operator",
              "f"), "no payment NOPE on channel bank_debit")
    fails(cli("payments", "reverse", "--reason", "x", "--operator", "f"), "give PAYMENT_ID, or --channel and --ref")
    fails(cli("payments", "reverse", "7", "--channel", "bank_debit", "--ref", "B-2", "--reason", "x",
              "--operator", "f"), "not both")

    recon = ok_json(cli("reconcile", "--channel", "bank_debit", str(bank), "--json"))  # B-2 settles
    assert (recon["matched"], recon["missing_in_books"]) == (1, ["B-1"])
    b2 = reversed_["payment_id"] + 1  # an import inserts its payments in file order
    fails(cli("payments", "reverse", str(b2), "--reason", "x", "--operator", "finance", "--json"),
          "already settled")
    assert ok_json(cli("ledger", "verify", "--json"))["ok"]


def test_report_outputs_are_written_all_or_none(cli, tmp_path, monkeypatch):
    """An unwritable --csv/--pdf is one clear line, and a failed report leaves none of its files behind."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "file").write_text("")
    pdf = out / "l.pdf"
    fails(cli("report", "liability", "--csv", "/nonexistent/x.csv", "--json"),
          "cannot write /nonexistent/x.csv: No such file or directory")
    fails(cli("report", "trial-balance", "--csv", str(out / "file" / "x")), f"cannot write {out}/file/x: Not a dir")
    fails(cli("report", "liability", "--csv", "/sys/x.csv", "--pdf", str(pdf)), "cannot write /sys/x.csv: ")
    fails(cli("report", "breakage", "--pdf", str(out / "none" / "b.pdf"), "--csv", str(out / "b.csv")),
          "cannot write")
    assert sorted(p.name for p in out.iterdir()) == ["file"]

    from print_templates import finance_reports as pdf_module

    def disk_full(path, **kwargs):
        Path(path).write_bytes(b"%PDF-partial")
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(pdf_module, "render_finance_report", disk_full)
    csv = out / "l.csv"
    fails(cli("report", "liability", "--csv", str(csv), "--pdf", str(pdf), "--json"),
          f"cannot write {pdf}: No space left on device")
    assert sorted(p.name for p in out.iterdir()) == ["file"]  # not even the CSV written before the PDF failed
    monkeypatch.undo()
    ok_json(cli("report", "liability", "--csv", str(csv), "--pdf", str(pdf), "--json"))
    assert csv.read_text(encoding="utf-8").startswith("batch_id,") and pdf.read_bytes().startswith(b"%PDF")
    assert sorted(p.name for p in out.iterdir()) == ["file", "l.csv", "l.pdf"]


def test_reconcile_with_an_unwritable_csv_settles_nothing(cli, tmp_path):
    ok_json(cli("accounts", "create", "--account-no", "0101", "--name", "张三", "--json"))
    bank = tmp_path / "bank.csv"
    bank.write_text(HEADER + "B-1,0101,10.00,CNY,2026-11-25T10:00:00+08:00\n", encoding="utf-8")
    ok_json(cli("payments", "import", "--channel", "bank_debit", str(bank), "--json"))
    fails(cli("reconcile", "--channel", "bank_debit", str(bank), "--csv", str(tmp_path / "no" / "r.csv"), "--json"),
          f"cannot write {tmp_path}/no/r.csv: No such file or directory")
    recon = ok_json(cli("reconcile", "--channel", "bank_debit", str(bank), "--csv", str(tmp_path / "r.csv"),
                        "--json"))
    assert (recon["settled"]["count"], recon["csv"]["rows"]) == (1, 1)
    assert (tmp_path / "r.csv").read_text(encoding="utf-8").splitlines()[1].startswith("matched,B-1,0101")


def test_import_and_reconcile_show_progress_on_a_terminal_only(cli, tmp_path, monkeypatch):
    ok_json(cli("accounts", "create", "--account-no", "0101", "--name", "张三", "--json"))
    bank = tmp_path / "bank.csv"
    bank.write_text(HEADER + "".join(f"B-{i},0101,1.00,CNY,2026-11-25T10:00:00+08:00\n" for i in range(2000)),
                    encoding="utf-8")
    code, out, err = cli("payments", "import", "--channel", "bank_debit", str(bank), "--json")
    assert (code, err, json.loads(out)["booked"]) == (0, "", 2000)  # not a terminal: no progress
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    size = bank.stat().st_size
    for argv in (("payments", "import"), ("reconcile",)):
        code, out, err = cli(*argv, "--channel", "bank_debit", str(bank), "--json")
        assert code == 0 and json.loads(out)  # stdout: the one JSON document, nothing else
        assert "reading bank.csv" in err and f"{size}/{size}" in err, err


@pytest.mark.parametrize("argv,message", [
    (("liability", "--as-of", "2026-02-30"), "--as-of must be a date like 2026-11-30, got '2026-02-30'"),
    (("liability", "--from", "2026-13-01"), "--from must be a date like 2026-11-30, got '2026-13-01'"),
    (("liability", "--from", "2026-12-01"), "--from 2026-12-01 is after --as-of 2026-11-26 (today)"),
    (("liability", "--from", "2026-11-20", "--as-of", "2026-11-10"), "--from 2026-11-20 is after --as-of 2026-11-10"),
    (("breakage", "--from", "2026-11-20", "--to", "2026-11-10"), "--from 2026-11-20 is after --to 2026-11-10"),
    (("breakage", "--to", "2026-11-31"), "--to must be a date like 2026-11-30, got '2026-11-31'"),
    (("liability", "--as-of", "0001-01-01"), "--as-of 0001-01-01 (from the 1st of its month) is out of the range"),
    (("liability", "--as-of", "9999-12-31"), "--as-of 9999-12-31 is out of the range of dates"),
    (("breakage", "--from", "0001-01-01"), "--from 0001-01-01 is out of the range of dates"),
    (("channels", "--from", "2026-01-01", "--to", "9999-12-31"), "--to 9999-12-31 is out of the range of dates"),
    (("trial-balance", "--as-of", "9999-12-31"), "--as-of 9999-12-31 is out of the range of dates"),
])
def test_report_dates_are_refused_naming_the_option_and_the_problem(cli_on_the_26th, argv, message):
    fails(cli_on_the_26th("report", *argv, "--json"), message)


def test_reports_cover_the_widest_dates_they_can(cli):
    # each report runs over the dates asked for (Beijing days, given in business time with the offset), not a
    # clamped or shifted range
    def beijing_midnight(*ymd: int) -> str:
        return dt.datetime(*ymd, tzinfo=SHANGHAI).isoformat()

    liability = ok_json(cli("report", "liability", "--from", "0001-01-02", "--as-of", "9999-12-30", "--json"))
    assert liability["as_of"] == "9999-12-31T00:00:00+08:00"  # the end of 9999-12-30 in Beijing
    assert liability["roll_forward"]["start"] == beijing_midnight(1, 1, 2)
    assert liability["roll_forward"]["end"] == liability["as_of"] and liability["roll_forward"]["closes"]
    assert (liability["total"], liability["difference"]) == ("0.00", "0.00")
    breakage = ok_json(cli("report", "breakage", "--from", "0001-01-02", "--to", "9999-12-30", "--json"))
    assert (breakage["from"], breakage["to"], breakage["count"], breakage["amount"]) == \
        ("0001-01-02", "9999-12-30", 0, "0.00")
    trial = ok_json(cli("report", "trial-balance", "--as-of", "0001-01-01", "--json"))
    assert (trial["as_of"], trial["balanced"], trial["lines"]) == (beijing_midnight(1, 1, 2), True, [])


@pytest.mark.parametrize("report", ["liability", "breakage", "channels", "collection", "trial-balance"])
def test_reports_refuse_an_unknown_currency(cli, report):
    code, out, err = cli("report", report, "--currency", "XYZ", "--json")
    assert (code, out) == (2, "") and err.count("\n") == 1
    assert "Invalid value for '--currency': 'XYZ' is not one of" in err and "'CNY'" in err
    assert ok_json(cli("report", report, "--currency", "usd", "--json"))["currency"] == "USD"


def test_fraud_alerts_refuse_an_unknown_kind(cli):
    code, out, err = cli("fraud", "alerts", "--kind", "nosuch", "--json")
    assert (code, out) == (2, "") and err.count("\n") == 1 and "'nosuch' is not one of 'void_voucher'" in err
    assert ok_json(cli("fraud", "alerts", "--kind", "lockout", "--json")) == {"alerts": []}


def test_verify_exits_non_zero_on_damage(cli, db_url):
    ok_json(cli("accounts", "create", "--account-no", "0101", "--name", "张三", "--arrears", "5.00", "--json"))
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE ledger_accounts SET balance = balance + 1 WHERE code = 'revenue:electricity'"))
    engine.dispose()
    code, out, err = cli("ledger", "verify", "--json")
    assert code == 1 and not json.loads(out)["ok"]
    assert "problem" in err


def _pdf_renders_with_embedded_fonts(pdf: Path, tmp_path: Path) -> None:
    assert pdf.read_bytes().startswith(b"%PDF")
    if shutil.which("pdftoppm") is None or shutil.which("pdffonts") is None:
        pytest.skip("poppler-utils not installed")
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(tmp_path / "page")], check=True)
    assert list(tmp_path.glob("page*.png"))
    fonts = subprocess.run(["pdffonts", str(pdf)], check=True, capture_output=True, text=True).stdout.splitlines()
    rows = fonts[2:]
    assert rows, fonts
    for row in rows:  # name type encoding emb sub uni object ID
        assert row.split()[-5] == "yes", f"font not embedded: {row}"
