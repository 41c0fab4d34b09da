"""The billing side's commands end to end: readings, billing, collection, cost control.

The groups are added to the real ``voucherctl`` root here (the lead registers
them in voucherctl/main.py), and ``main()`` runs in-process so the clock can
be injected through ``voucherctl.context.now``.
"""
from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import zoneinfo
from dataclasses import dataclass
from pathlib import Path

import pytest

from voucherctl import (
    billing_cmd,
    collection_cmd,
    context,
    costcontrol_cmd,
    readings_cmd,
)
from voucherctl import main as voucherctl_main

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self):  # type: ignore[no-untyped-def]
        return json.loads(self.out)


class Cli:
    def __init__(self, capsys, monkeypatch, home: Path) -> None:  # type: ignore[no-untyped-def]
        self.capsys = capsys
        self.monkeypatch = monkeypatch
        self.home = home
        self.clock = dt.datetime(2026, 10, 1, 9, tzinfo=SHANGHAI)
        monkeypatch.setattr(context, "now", lambda: self.clock)

    def at(self, when: str) -> Cli:
        self.clock = dt.datetime.fromisoformat(when).replace(tzinfo=SHANGHAI)
        return self

    def __call__(self, *args: str) -> Result:
        self.capsys.readouterr()
        code = voucherctl_main.main(list(args))
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)


@pytest.fixture
def cli(db_url, tmp_path, monkeypatch, capsys) -> Cli:  # type: ignore[no-untyped-def]
    for group in (readings_cmd.readings, billing_cmd.billing, collection_cmd.collection,
                  costcontrol_cmd.cost_control):
        voucherctl_main.cli.add_command(group)
    monkeypatch.setenv("VOUCHER_DATABASE_URL", db_url)
    monkeypatch.setenv("VOUCHER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("VOUCHER_ACTOR", "clerk")
    monkeypatch.delenv("VOUCHER_TARIFF_DIR", raising=False)
    context.settings.cache_clear()
    context.engine.cache_clear()
    billing_cmd.catalog.cache_clear()
    yield Cli(capsys, monkeypatch, tmp_path)
    context.engine().dispose()
    context.settings.cache_clear()
    context.engine.cache_clear()
    billing_cmd.catalog.cache_clear()


def _setup(cli: Cli) -> None:
    for no, name in (("A1", "Li Lei"), ("P1", "Han Meimei")):
        assert cli("accounts", "create", "--account-no", no, "--name", name).code == 0
    r = cli("billing", "assign", "A1", "--tariff", "jx-residential", "--mode", "postpaid", "--area", "思明区",
            "--meter", "MA1", "--opening-reading", "0", "--opening-date", "2026-10-01", "--json")
    assert r.code == 0, r.err
    assert r.json()["tariff"] == "jx-residential"
    r = cli("billing", "assign", "P1", "--tariff", "fj-residential", "--mode", "prepaid", "--area", "湖里区",
            "--meter", "MP1", "--warning", "50.00", "--opening-reading", "0", "--opening-date", "2026-10-01")
    assert r.code == 0, r.err


def test_readings_billing_and_reports(cli: Cli, tmp_path: Path) -> None:
    _setup(cli)
    good = tmp_path / "readings.csv"
    good.write_text("account_no,meter,reading_date,reading\nA1,MA1,2026-10-20,2500\nP1,MP1,2026-10-20,60\n")
    r = cli.at("2026-10-21T08:00")("readings", "import", str(good), "--json")
    assert r.code == 0, r.err
    assert r.json()["inserted"] == 2
    assert cli("readings", "import", str(good), "--json").json()["duplicates"] == 2

    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    r = cli("readings", "import", str(empty), "--json")
    assert (r.code, r.json()["ok"], r.err.count("\n")) == (1, False, 1) and "empty.csv: the file is empty" in r.err

    bad = tmp_path / "bad.csv"
    bad.write_text("A1,MA1,2026-10-21,2400\nA1,NOPE,2026-10-21,2600\n")
    r = cli("readings", "import", str(bad), "--json")
    assert r.code == 1
    assert [e["code"] for e in r.json()["errors"]] == ["decreasing_reading", "unknown_meter"]
    assert r.err.count("\n") == 1 and "2 of 2 readings refused" in r.err

    r = cli.at("2026-11-01T09:00")("billing", "run", "--period", "2026-10", "--as-of", "2026-10-31", "--json")
    assert r.code == 0, r.err
    run = r.json()
    assert (run["billed"], run["total"]) == (2, "1546.90")  # 1517.00 + 29.90
    show = cli("billing", "show", "A1", "--json").json()
    [bill] = show["bills"]
    assert [(line["tier"], line["kwh"]) for line in bill["lines"]] == [("1", "2160"), ("2", "340")]
    assert bill["total"] == "1517.00" and bill["due_date"] == "2026-11-07"  # 2160 x 0.60 + 340 x 0.65
    prepaid = cli("billing", "show", "P1", "--json").json()
    assert prepaid["available_balance"] == "-29.90" and prepaid["available_kwh"] == "0.00"  # 60 x 0.4983

    out = tmp_path / "bill.pdf"
    r = cli("billing", "pdf", str(bill["bill_id"]), "--out", str(out), "--lang", "en")
    assert r.code == 0 and out.read_bytes().startswith(b"%PDF")
    r = cli("billing", "pdf", str(bill["bill_id"]), "--out", str(tmp_path / "none" / "bill.pdf"))
    assert r.code == 1 and r.err.count("\n") == 1 and f"cannot write {tmp_path}/none/bill.pdf: No such file" in r.err
    r = cli("billing", "pdf", str(bill["bill_id"]), "--out", str(out), "--json")
    assert r.code == 0, r.err
    assert r.json() == {"bill_id": bill["bill_id"], "path": str(out), "lang": "zh", "bytes": out.stat().st_size}

    # a month not over yet (business time zone) would charge days that have not happened: refused, nothing posted
    for when, month in (("2026-11-27T10:00", "2026-11"), ("2026-11-30T23:59", "2026-11"), ("2026-11-27T10:00",
                                                                                          "2099-01")):
        r = cli.at(when)("billing", "late-fees", "--month", month, "--json")
        assert r.code == 1 and r.out == "" and r.err.count("\n") == 1, r.err
        assert f"month {month} has not ended yet" in r.err
    r = cli.at("2026-12-01T09:00")("billing", "late-fees", "--month", "2026-11", "--json")
    assert r.json()["total"] == "34.89"  # A1: 23 days x 1517.00 x 1 per mille = 34.891; P1 is prepaid
    r = cli("collection", "report", "--month", "2026-11", "--json")
    total = r.json()["total"]
    assert total["this_year_rate"] == "0.0" and total["arrears"]["categories"]["penalties"] == "34.89"
    csv_out, pdf_out = tmp_path / "c.csv", tmp_path / "c.pdf"
    r = cli("collection", "report", "--month", "2026-11", "--csv", str(csv_out), "--pdf", str(tmp_path / "c.pdf" / "x"))
    assert r.code == 1 and "cannot write" in r.err and not csv_out.exists()  # all outputs or none
    r = cli("collection", "report", "--month", "2026-11", "--csv", str(csv_out), "--pdf", str(pdf_out))
    assert r.code == 0 and csv_out.read_text().startswith("section,group,measure,value")
    if shutil.which("pdffonts"):
        fonts = subprocess.run(["pdffonts", str(pdf_out)], capture_output=True, text=True).stdout
        assert "no " not in " ".join(line.split()[-5] + " " for line in fonts.splitlines()[2:])
    warnings = cli("collection", "warnings", "--json").json()
    # A1 owes since 2026-11-07 (24 days: yellow); P1's 29.90 was due 2026-10-31 (31 days: red)
    assert {w["account_no"]: w["level"] for w in warnings["warnings"]} == {"A1": "yellow", "P1": "red"}

    r = cli("cost-control", "run", "--json")
    assert r.json()["notices"] == 1  # P1: owes 29.90, nothing paid
    # red team: an --as-of ahead of the clock wrote disconnect orders dated in the future
    r = cli("cost-control", "run", "--as-of", "2026-12-02T09:00", "--json")
    assert (r.code, r.out, r.err.count("\n")) == (1, "", 1), r.err
    assert "--as-of 2026-12-02 09:00 (UTC+8) is in the future (it is now 2026-12-01 09:00 (UTC+8))" in r.err
    assert cli("cost-control", "orders", "--json").json()["orders"] == []
    assert cli("cost-control", "run", "--as-of", "2026-12-01T08:30", "--json").code == 0  # earlier: fine
    r = cli.at("2026-12-02T09:00")("cost-control", "run", "--json")
    assert r.json()["disconnect_orders"] == 1
    orders = cli("cost-control", "orders", "--json").json()["orders"]
    assert [(o["kind"], o["account_no"], o["meter_no"]) for o in orders] == [("disconnect", "P1", "MP1")]
    # and the head-end's ack before the order's not_before (08:00) turned supply off early
    r = cli.at("2026-12-02T07:59")("cost-control", "ack", str(orders[0]["order_id"]), "--result", "done", "--json")
    assert (r.code, r.out, r.err.count("\n")) == (1, "", 1), r.err
    assert "may not be carried out before 2026-12-02 08:00 (UTC+8)" in r.err
    assert cli("cost-control", "orders", "--json").json()["orders"][0]["status"] == "pending"
    r = cli.at("2026-12-02T08:00")("cost-control", "ack", str(orders[0]["order_id"]), "--result", "done", "--json")
    assert r.json()["status"] == "done"


def test_clear_errors(cli: Cli, tmp_path: Path) -> None:
    _setup(cli)
    r = cli("billing", "assign", "A1", "--tariff", "nowhere", "--mode", "postpaid", "--area", "x", "--meter", "MA1")
    assert r.code == 1 and "unknown tariff 'nowhere'" in r.err and r.err.count("\n") == 1
    assert cli("billing", "run", "--period", "2026-13").code == 1
    assert "no bill 999" in cli("billing", "pdf", "999", "--out", str(tmp_path / "x.pdf")).err
    assert cli("billing", "show", "NOPE").code == 1
    for args in (("collection", "warnings"), ("cost-control", "run")):  # no OverflowError at the calendar's edges
        for when in ("0001-01-01", "0001-01-01T00:00+14:00", "9999-12-31", "1999-12-31"):
            r = cli(*args, "--as-of", when, "--json")
            assert r.code == 1 and r.err.count("\n") == 1 and "outside the years 2000-2199" in r.err, (args, r.err)

    data = tmp_path / "tariffs"
    data.mkdir()
    (data / "jx-residential.toml").write_text(
        'schema = "tariff/1"\nid = "jx-residential"\nname = "x"\n'
        '[[versions]]\neffective_from = 2020-01-01\neffective_to = 2020-12-31\n[[versions.tiers]]\nprice = 0.6\n'
        '[[versions]]\neffective_from = 2020-06-01\n[[versions.tiers]]\nprice = 0.7\n')
    cli.monkeypatch.setenv("VOUCHER_TARIFF_DIR", str(data))
    billing_cmd.catalog.cache_clear()
    context.settings.cache_clear()  # the configuration is read once per command: read it again
    r = cli.at("2026-11-01T09:00")("billing", "run", "--period", "2026-10", "--as-of", "2026-10-31")
    assert r.code == 1 and "overlap" in r.err


def test_a_time_of_use_meter_gets_its_opening_peak_and_valley(cli: Cli) -> None:
    """`billing assign --time-of-use --opening-reading` demanded peak/valley openings no option accepted."""
    assert cli("accounts", "create", "--account-no", "T1", "--name", "Wang Fang").code == 0
    base = ("billing", "assign", "T1", "--tariff", "fj-residential", "--mode", "postpaid", "--area", "思明区",
            "--meter", "MT1", "--time-of-use", "--opening-reading", "800.50", "--opening-date", "2026-10-01")
    r = cli(*base)
    assert r.code == 1 and r.err.count("\n") == 1 and "needs the peak and valley registers" in r.err
    r = cli(*base, "--opening-peak", "500.00", "--opening-valley", "200")
    assert r.code == 1 and "do not add up to the register of 800.50 kWh" in r.err
    r = cli(*base, "--opening-peak", "-1", "--opening-valley", "801.50")
    assert r.code == 1 and "--opening-peak must not be negative" in r.err
    r = cli("billing", "assign", "T1", "--tariff", "fj-residential", "--mode", "postpaid", "--area", "x",
            "--meter", "MT1", "--opening-peak", "1")
    assert r.code == 1 and "--opening-peak and --opening-valley belong to an --opening-reading" in r.err
    r = cli(*base, "--opening-peak", "500.25", "--opening-valley", "300.25", "--json")
    assert r.code == 0, r.err
    assert r.json()["time_of_use"] is True
    with context.sessions().begin() as session:  # the baseline holds both registers
        from sqlalchemy import select

        from vouchers.storage.metering_models import MeterReading

        row = session.execute(select(MeterReading).where(MeterReading.account_no == "T1")).scalar_one()
        assert (row.reading_ckwh, row.peak_ckwh, row.valley_ckwh) == (80050, 50025, 30025)
