"""``voucherctl tariff ...`` in-process: exit codes, JSON on stdout, one-line errors."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from voucherctl.main import main


@pytest.fixture(autouse=True)
def _shipped_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOUCHER_TARIFF_DIR", raising=False)


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    code = main(["tariff", *args, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert err == ""
    return json.loads(out)  # exactly one JSON document


def run_error(capsys: pytest.CaptureFixture[str], *args: str, code: int = 1) -> str:
    assert main(["tariff", *args]) == code
    out, err = capsys.readouterr()
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("voucherctl: error: ")
    return err


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_json(capsys, "list")
    by_id = {t["id"]: t for t in doc["tariffs"]}
    assert {"jx-residential", "fj-residential"} <= set(by_id)
    jx = by_id["jx-residential"]["versions"][0]
    assert jx["period"] == "annual" and jx["year_start_month"] == 2
    assert jx["tiers"] == [{"tier": "1", "up_to": "2160", "price": "0.60"},
                           {"tier": "2", "up_to": "4200", "price": "0.65"},
                           {"tier": "3", "up_to": None, "price": "0.90"}]
    fj = by_id["fj-residential"]
    assert [v["effective_from"] for v in fj["versions"]] == ["2012-07-01", "2016-11-01"]
    assert fj["versions"][1]["time_of_use"]["valley_adjustment"] == "-0.20"


def test_list_human(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tariff", "list"]) == 0
    out = capsys.readouterr().out
    assert "jx-residential" in out and "<=2160 0.60" in out and "<=230 0.4983" in out


def test_quote_worked_bill(capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_json(capsys, "quote", "--tariff", "fj-residential", "--kwh", "500", "--date", "2016-11-01")
    assert doc["tariff"] == "fj-residential" and doc["kwh"] == "500" and doc["total"] == "282.65"
    assert [{k: line[k] for k in ("tier", "kwh", "price", "amount")} for line in doc["lines"]] == [
        {"tier": "1", "kwh": "230", "price": "0.4983", "amount": "114.6090"},
        {"tier": "2", "kwh": "190", "price": "0.5483", "amount": "104.1770"},
        {"tier": "3", "kwh": "80", "price": "0.7983", "amount": "63.8640"},
    ]
    assert doc["version"] == "2016-11-01" and doc["reading_date"] == "2016-11-01"


def test_quote_reading_date_picks_the_version(capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_json(capsys, "quote", "--tariff", "fj-residential", "--kwh", "500", "--date", "2016-10-31")
    assert doc["total"] == "289.15" and doc["version"] == "2012-07-01"


def test_quote_jiangxi_across_bills_part_year_tou_allowance(capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_json(capsys, "quote", "--tariff", "jx-residential", "--kwh", "101", "--used-before", "2100",
                   "--peak", "61", "--valley", "40", "--date", "2024-08-10")
    assert doc["total"] == "59.68"
    assert [(line["tier"], line["amount"]) for line in doc["lines"]] == [
        ("1", "36.00"), ("2", "26.65"), ("peak", "1.83"), ("valley", "-4.80")]
    doc = run_json(capsys, "quote", "--tariff", "jx-residential", "--kwh", "300", "--used-before", "2000",
                   "--months-of-supply", "6", "--date", "2024-12-10")
    assert doc["total"] == "245.00" and doc["months_of_supply"] == 6
    doc = run_json(capsys, "quote", "--tariff", "fj-residential", "--kwh", "200", "--low-income",
                   "--date", "2024-01-10")
    assert doc["total"] == "99.66" and doc["allowance_refund"] == "7.47"


def test_quote_human(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tariff", "quote", "--tariff", "fj-residential", "--kwh", "500", "--date", "2016-11-01"]) == 0
    out = capsys.readouterr().out
    assert "114.6090" in out and "282.65" in out


def test_quote_default_date_is_today(capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_json(capsys, "quote", "--tariff", "jx-shared-meter", "--kwh", "100")
    assert doc["total"] == "62.00" and len(doc["reading_date"]) == 10


def test_kwh(capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_json(capsys, "kwh", "--tariff", "fj-residential", "--amount", "100.00", "--date", "2020-01-01")
    assert doc["kwh"] == "200.68" and doc["amount"] == "100.00"
    doc = run_json(capsys, "kwh", "--tariff", "jx-residential", "--amount", "100", "--used-before", "2100")
    assert doc["kwh"] == "158.46"
    doc = run_json(capsys, "kwh", "--tariff", "jx-residential", "--amount", "100.00", "--time-of-use")
    assert doc["kwh"] == "158.73" and doc["basis"] == "peak"


def test_late_fee(capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_json(capsys, "late-fee", "--customer-class", "residential", "--principal", "200.00", "--days", "30")
    assert doc["fee"] == "6.00"
    doc = run_json(capsys, "late-fee", "--customer-class", "residential", "--principal", "200.00", "--days", "4")
    assert doc["fee"] == "1.00" and doc["minimum_applied"] is True
    doc = run_json(capsys, "late-fee", "--customer-class", "other", "--principal", "200.00", "--days", "10",
                   "--prior-year")
    assert doc["fee"] == "6.00" and doc["daily_rate"] == "0.003"


def test_late_fee_human(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tariff", "late-fee", "--customer-class", "other", "--principal", "150.50", "--days", "5"]) == 0
    assert "1.51" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "fragment"), [
    (("quote", "--tariff", "nope", "--kwh", "1"), "unknown tariff 'nope'"),
    (("quote", "--tariff", "jx-residential", "--kwh", "-5"), "must not be negative"),
    (("quote", "--tariff", "jx-residential", "--kwh", "1.5e3"), "plain decimal"),
    (("quote", "--tariff", "jx-residential", "--kwh", "10", "--peak", "10"), "both the peak and the valley"),
    (("quote", "--tariff", "jx-residential", "--kwh", "10", "--peak", "4", "--valley", "5"), "must equal"),
    (("quote", "--tariff", "jx-shared-meter", "--kwh", "10", "--low-income"), "no low-income allowance"),
    (("quote", "--tariff", "jx-residential", "--kwh", "10", "--months-of-supply", "13"), "months of supply"),
    (("quote", "--tariff", "fj-residential", "--kwh", "10", "--date", "2001-01-01"), "no version in force"),
    (("quote", "--tariff", "fj-residential", "--kwh", "10", "--date", "31/12/2024"), "--date must be a date"),
    (("kwh", "--tariff", "fj-residential", "--amount", "10.001"), "more than two decimals"),
    (("kwh", "--tariff", "fj-residential", "--amount", "-3"), "must not be negative"),
    (("late-fee", "--customer-class", "farm", "--principal", "1.00", "--days", "3"), "unknown customer class"),
    (("late-fee", "--customer-class", "other", "--principal", "1.00", "--days", "-3"), "days overdue"),
])
def test_bad_input_is_one_line(capsys: pytest.CaptureFixture[str], args: tuple[str, ...], fragment: str) -> None:
    assert fragment in run_error(capsys, *args)


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert "--tariff" in run_error(capsys, "quote", "--kwh", "1", code=2)
    assert "--days" in run_error(capsys, "late-fee", "--customer-class", "other", "--principal", "1",
                                 "--days", "x", code=2)


def test_data_dir_with_a_broken_file(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "bad.toml").write_text('schema = "tariff/1"\nid = "bad"\nname = [\n', encoding="utf-8")
    assert "bad.toml: not valid TOML" in run_error(capsys, "--data-dir", str(tmp_path), "list")
    from voucherctl import context

    monkeypatch.setenv("VOUCHER_TARIFF_DIR", str(tmp_path))
    context.settings.cache_clear()  # a process reads its settings once: this test plays a new process
    try:
        assert "bad.toml" in run_error(capsys, "list")
    finally:
        monkeypatch.delenv("VOUCHER_TARIFF_DIR")
        context.settings.cache_clear()


def test_data_dir_without_late_fee_rules(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "flat.toml").write_text(
        'schema = "tariff/1"\nid = "flat"\nname = "Flat"\n[[versions]]\neffective_from = 2020-01-01\n'
        '[[versions.tiers]]\nprice = 0.5\n', encoding="utf-8")
    doc = run_json(capsys, "--data-dir", str(tmp_path), "quote", "--tariff", "flat", "--kwh", "3")
    assert doc["total"] == "1.50"
    assert "no late-fee rules" in run_error(capsys, "--data-dir", str(tmp_path), "late-fee", "--customer-class",
                                            "other", "--principal", "1.00", "--days", "3")
