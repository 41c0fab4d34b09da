"""Lists, statements and the daily close (日结) through ``voucherctl``, in process, on SQLite and PostgreSQL.

One business day, 2026-11-26 in Beijing, with activity on every channel: a
payment on each payment channel, a redemption, an activation, an expiry, a
void, an Alipay settlement with its fee, a bill, a late fee and an energy sale.
"""
from __future__ import annotations

import csv
import datetime as dt
import json
import subprocess
import zoneinfo
from dataclasses import dataclass

import pytest
from sqlalchemy import text

from issuer.batches import void_batch
from tests.conftest import cheap_sealing
from tests.inprocess_cli import in_process_cli
from tests.integration.books.conftest import StockBatch, make_batch, voucher_id
from vouchers.books.channels import CHANNELS
from vouchers.books.csvformat import PaymentLine
from vouchers.books.customers import create_customer, customer_summary, get_customer, issue_bill
from vouchers.books.energy_sales import book_energy_sale
from vouchers.books.payments import post_payment
from vouchers.books.reconcile import reconcile_lines
from vouchers.books.voucher_books import activate, expire_vouchers, redeem, reverse_liability_for_void
from vouchers.metering import late_fees
from vouchers.storage.db import make_engine, session_factory

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
DAY = dt.date(2026, 11, 26)
ACC1, ACC2 = "3100000001", "3100000002"
PAYMENT_CHANNELS = [c for c in CHANNELS if c != "voucher"]
PASSPHRASE = "finance lists passphrase"


def at(hour: int, minute: int = 0, *, days: int = 0) -> dt.datetime:
    return dt.datetime.combine(DAY + dt.timedelta(days=days), dt.time(hour, minute), tzinfo=SHANGHAI)


@dataclass
class Day:
    batch: StockBatch
    redemption_tx: int


def _build_day(db_url: str) -> Day:
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    with sessions.begin() as s:
        batch = make_batch(s, count=10, face_value=5000, now=at(8, days=-5))
        old = make_batch(s, count=2, face_value=2000, expires=DAY - dt.timedelta(days=2), now=at(8, days=-20))
        lost = make_batch(s, count=3, face_value=1000, now=at(8, days=-5))
        activate(s, batch.batch_id, "SHOP-1", batch.serial(1), batch.serial(3), now=at(10, days=-1), actor="t")
        activate(s, old.batch_id, "SHOP-1", now=at(10, days=-10), actor="t")
        activate(s, lost.batch_id, "SHOP-2", now=at(10, days=-1), actor="t")
        create_customer(s, ACC1, "张三丰", meter_no="M-1", phone="138 1234-5678", arrears=3000,
                        arrears_due=DAY - dt.timedelta(days=10), now=at(9, days=-2))
        create_customer(s, ACC2, "李四", meter_no="M-2", now=at(9, days=-2))
    with sessions.begin() as s:
        expire_vouchers(s, DAY, at(0, 30), tz="Asia/Shanghai")
        activate(s, batch.batch_id, "SHOP-1", batch.serial(4), batch.serial(6), now=at(9), actor="t")
        issue_bill(s, ACC1, 10000, due_date=DAY + dt.timedelta(days=14), bill_ref="2026-11", now=at(8))
        for i, channel in enumerate(PAYMENT_CHANNELS):
            post_payment(s, channel, ACC2, 1000 + 100 * i, f"{channel}-1", at(10), at(10))
        post_payment(s, "alipay", ACC1, 2000, "ali-acc1", at(10, 30), at(10, 30))
        booking = redeem(s, voucher_id(s, batch, 4), ACC1, today=DAY, now=at(11), actor="t")
        late_fees._post(s, get_customer(s, ACC1), upto=DAY, total=150, fees=[], now=at(12), trigger="manual",
                        actor="t")
        book_energy_sale(s, ACC2, 500, external_ref="vend-1", occurred_at=at(13), now=at(13))
        void_batch(s, lost.batch_id, "stolen in transit", "carol", at(14),
                   on_void=lambda session, b: reverse_liability_for_void(session, b.id, at(14)))
        alipay = 1000 + 100 * PAYMENT_CHANNELS.index("alipay")
        lines = [PaymentLine(2, "alipay-1", ACC2, alipay, "CNY", at(10).astimezone(dt.timezone.utc)),
                 PaymentLine(3, "ali-acc1", ACC1, 2000, "CNY", at(10, 30).astimezone(dt.timezone.utc))]
        reconcile_lines(s, "alipay", lines, file_name="alipay.csv", sha256="0" * 64, now=at(20), actor="t",
                        fees={"alipay-1": 6, "ali-acc1": 12})
    with sessions.begin() as s:  # the next day: outside the closed day
        post_payment(s, "pos_card", ACC1, 777, "pos-next-day", at(0, 10, days=1), at(0, 10, days=1))
    engine.dispose()
    return Day(batch, booking.transaction_id)


@pytest.fixture
def day(db_url) -> Day:
    return _build_day(db_url)


@pytest.fixture
def cli(db_url, tmp_path, monkeypatch, capsys, day):
    monkeypatch.setenv("VOUCHER_KEY_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("VOUCHER_WEB_PASSPHRASE", PASSPHRASE + " web")
    yield from in_process_cli(db_url, tmp_path / "home", monkeypatch, capsys, now=at(10, days=1))


def ok_json(result: tuple[int, str, str]) -> dict:
    code, out, err = result
    assert code == 0, err
    return json.loads(out)


def pdf_text(path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


# --- lists -----------------------------------------------------------------------------------------


def test_accounts_search_and_payments_list(cli):
    """Accounts by number, name, meter and phone; payments by channel, date, ref and account."""
    def found(*argv: str) -> list[str]:
        return [a["account_no"] for a in ok_json(cli("accounts", "search", *argv, "--json"))["accounts"]]

    assert found("31000000") == [ACC1, ACC2]
    assert found("--name", "三丰") == [ACC1]  # part of the name
    assert found("李") == [ACC2]
    assert found("--meter", "M-2") == [ACC2]
    assert found("--phone", "13812345678") == [ACC1]
    assert found("138-1234-5678") == [ACC1]
    page = ok_json(cli("accounts", "search", "31000000", "--limit", "1", "--offset", "1", "--json"))
    assert (page["total"], [a["account_no"] for a in page["accounts"]]) == (2, [ACC2])
    hit = ok_json(cli("accounts", "search", "--phone", "13812345678", "--json"))["accounts"][0]
    assert hit["phone_masked"] == "138****5678" and "13812345678" not in json.dumps(hit)
    assert found("--name", "%") == []  # LIKE wildcards are text
    code, out, err = cli("accounts", "search")
    assert code != 0 and "give something to search for" in err

    # payments list with filters
    everything = ok_json(cli("payments", "list", "--limit", "500", "--json"))
    assert everything["total"] == len(PAYMENT_CHANNELS) + 3  # + ali-acc1, the redemption, the next day's
    of_day = ok_json(cli("payments", "list", "--from", "2026-11-26", "--to", "2026-11-26", "--json"))
    assert of_day["total"] == len(PAYMENT_CHANNELS) + 2
    assert all(p["paid_at"].startswith("2026-11-26T") and p["paid_at"].endswith("+08:00")
               for p in of_day["payments"])
    alipay = ok_json(cli("payments", "list", "--channel", "alipay", "--json"))["payments"]
    assert sorted(p["external_ref"] for p in alipay) == ["ali-acc1", "alipay-1"]
    by_ref = ok_json(cli("payments", "list", "--ref", "pos-next-day", "--json"))["payments"]
    assert [(p["account_no"], p["amount"], p["channel"]) for p in by_ref] == [(ACC1, "7.77", "pos_card")]
    acc1 = ok_json(cli("payments", "list", "--account", ACC1, "--to", "2026-11-26", "--json"))["payments"]
    assert sorted(p["channel"] for p in acc1) == ["alipay", "voucher"]
    code, _, err = cli("payments", "list", "--channel", "nope")
    assert code != 0 and "unknown channel" in err


def test_account_statement_closes_against_the_ledger(cli, tmp_path, db_url):
    out_csv, out_pdf = tmp_path / "s.csv", tmp_path / "s.pdf"
    s = ok_json(cli("accounts", "statement", ACC1, "--from", "2026-11-26", "--to", "2026-11-26",
                    "--csv", str(out_csv), "--pdf", str(out_pdf), "--json"))
    assert s["opening"] == {"balance": "0.00", "arrears": "30.00", "position": "-30.00"}
    kinds = [x["kind"] for x in s["lines"]]
    for kind in ("bill", "payment", "redemption", "late_fee"):
        assert kind in kinds, kinds
    assert s["totals"]["bill"] == "-100.00" and s["totals"]["late_fee"] == "-1.50"
    assert s["totals"]["redemption"] == "50.00" and s["totals"]["payment"] == "20.00"
    engine = make_engine(db_url)
    with session_factory(engine).begin() as session:
        now = customer_summary(session, ACC1)  # the day's end is also now for this account (no later movement)
    engine.dispose()
    # 7.77 arrived after midnight: the ledger now holds it, the statement of the 26th does not
    assert s["closes"] and s["closing"]["position"] == s["computed_closing"]
    assert int(s["closing"]["position"].replace(".", "")) + 777 == now.balance - now.arrears
    rows = list(csv.reader(out_csv.open(encoding="utf-8-sig")))
    assert rows[1][1] == "opening" and rows[-1][1] == "closing" and rows[-1][-1] == s["closing"]["position"]
    assert "Account statement" in pdf_text(out_pdf) and "(UTC+08:00)" in pdf_text(out_pdf)
    energy = ok_json(cli("accounts", "statement", ACC2, "--from", "2026-11-26", "--to", "2026-11-26", "--json"))
    assert energy["totals"]["energy_sale"] == "-5.00" and energy["closes"]


# --- daily close -----------------------------------------------------------------------------------


def test_daily_close_balances_a_day_with_every_channel_and_anchors_the_audit_chain(cli, tmp_path, day, db_url):
    """The day balances; then a posting altered, or removed, behind the ledger's back makes it fail by that much."""
    out_csv, out_pdf = tmp_path / "close.csv", tmp_path / "close.pdf"
    with cheap_sealing():  # the key store holds the audit-checkpoint key
        ok_json(cli("init", "--json"))
    r = ok_json(cli("report", "daily-close", "--date", "2026-11-26", "--csv", str(out_csv), "--pdf", str(out_pdf),
                    "--json"))
    assert r["balanced"] and r["differences"] == [] and r["journal_imbalance"] == "0.00"
    assert r["start"] == "2026-11-26T00:00:00+08:00"
    assert {c["channel"] for c in r["channels"]} == set(CHANNELS)  # every payment channel and vouchers
    alipay = next(c for c in r["channels"] if c["channel"] == "alipay")
    assert (alipay["count"], alipay["settled"], alipay["fees"]) == (2, "34.82", "0.18")
    assert next(c for c in r["channels"] if c["channel"] == "voucher")["money_in"] == "50.00"
    # 00:10 on the 27th in Beijing is 16:10 UTC on the 26th: a local day leaves it out
    assert next(c for c in r["channels"] if c["channel"] == "pos_card")["count"] == 1
    assert r["liability"] | {"counts": None} == {
        "opening": "220.00", "activated": "150.00", "redeemed": "50.00", "expired": "40.00", "voided": "30.00",
        "closing": "250.00", "computed_closing": "250.00", "ledger_opening": "220.00", "ledger_closing": "250.00",
        "counts": None}
    head, checkpoint = r["audit_head"], r["checkpoint"]
    assert head["event_id"] > 0 and checkpoint["event_id"] == head["event_id"] and checkpoint["hash"] == head["hash"]
    log = tmp_path / "home" / "audit-checkpoints.jsonl"
    assert json.loads(log.read_text().splitlines()[-1]) == checkpoint
    assert ok_json(cli("audit", "verify", "--checkpoint", str(log), "--json"))["ok"]
    text_of_pdf = pdf_text(out_pdf)
    assert "BALANCED" in text_of_pdf and head["hash"] in text_of_pdf and checkpoint["signature"][:40] in text_of_pdf
    rows = {(row[0], row[1]): row for row in csv.reader(out_csv.open(encoding="utf-8-sig"))}
    assert rows[("liability", "closing")][3] == "250.00" and rows[("audit", "head_hash")][3] == head["hash"]

    _unbalance_the_day(cli, day, db_url)


def _tamper(db_url: str, statement: str, params: dict) -> None:
    """Write to the journal behind the ledger's back: with its append-only triggers out of the way."""
    engine = make_engine(db_url)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))  # triggers off, this transaction
        else:
            conn.execute(text("DROP TRIGGER IF EXISTS ledger_postings_no_update"))
            conn.execute(text("DROP TRIGGER IF EXISTS ledger_postings_no_delete"))
        conn.execute(text(statement), params)
    engine.dispose()


def _unbalance_the_day(cli, day: Day, db_url: str) -> None:
    prepaid_line = ("SELECT p.transaction_id, p.line FROM ledger_postings p JOIN ledger_accounts a "
                    "ON a.id = p.account_id JOIN payments y ON y.transaction_id = p.transaction_id "
                    "WHERE y.external_ref = 'wechat_pay-1' AND a.code LIKE 'customer_prepaid:%'")
    engine = make_engine(db_url)
    with engine.connect() as conn:
        tid, line = conn.execute(text(prepaid_line)).one()
    engine.dispose()
    _tamper(db_url, "UPDATE ledger_postings SET amount = amount + 7 WHERE transaction_id = :t AND line = :l",
            {"t": tid, "l": line})
    code, out, err = cli("report", "daily-close", "--date", "2026-11-26", "--no-checkpoint", "--json")
    assert code == 1 and "does not balance" in err and "journal off by 0.07" in err
    assert json.loads(out)["differences"] == [{"check": "journal", "amount": "0.07", "detail": json.loads(out)[
        "differences"][0]["detail"]}]

    _tamper(db_url, "UPDATE ledger_postings SET amount = amount - 7 WHERE transaction_id = :t AND line = :l",
            {"t": tid, "l": line})
    assert ok_json(cli("report", "daily-close", "--date", "2026-11-26", "--no-checkpoint", "--json"))["balanced"]

    _tamper(db_url, "DELETE FROM ledger_postings WHERE transaction_id = :t AND account_id = "
            "(SELECT id FROM ledger_accounts WHERE code = 'voucher_liability')", {"t": day.redemption_tx})
    code, out, err = cli("report", "daily-close", "--date", "2026-11-26", "--no-checkpoint")
    assert code == 1
    assert "liability_closing off by 50.00" in err and "journal off by -50.00" in err
