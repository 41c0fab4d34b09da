"""Prepaid standing and kWh fields; bills and reports as PDFs with embedded fonts."""
from __future__ import annotations

import re
import shutil
import subprocess
from decimal import Decimal

import pytest

from vouchers.books import customers
from print_templates import metering_reports as pdf
from vouchers.metering import billing, collection, prepaid
from tests.integration.metering.conftest import World, at


def test_kwh_fields_by_hand(world: World) -> None:
    world.customer("F", mode="prepaid", opening=("2026-03-01", "0"))
    world.customer("P", mode="postpaid", opening=("2026-03-01", "0"))
    world.pay("F", "100.00", "2026-03-01")
    world.read("F", "2026-03-10", "50")
    with world.sessions.begin() as s:
        fields = prepaid.kwh_fields(s, "F", now=at("2026-03-10", 21), catalog=world.catalog, amount_minor=10000)
        standing = prepaid.standing(s, "F", now=at("2026-03-10", 21), catalog=world.catalog)
        assert prepaid.kwh_fields(s, "P", now=at("2026-03-10", 21), catalog=world.catalog) == {}
        customers.create_customer(s, "PLAIN", "no tariff", now=at("2026-03-01"))
        assert prepaid.kwh_fields(s, "PLAIN", now=at("2026-03-10", 21), catalog=world.catalog) == {}
        assert prepaid.standing(s, "PLAIN", now=at("2026-03-10", 21), catalog=world.catalog) is None
    assert standing is not None
    # 50 kWh unbilled: 24.915 -> 24.92 estimated; 100.00 - 24.92 = 75.08 available
    assert (standing.estimate_fen, standing.available_fen, standing.used_in_period_ckwh) == (2492, 7508, 5000)
    # 75.08 at 0.4983 from position 50 (180 kWh of tier-1 room left): 150.672... -> 150.67
    # 100.00: 180 kWh for 89.694, the remaining 10.306 at 0.5483 = 18.796... -> 198.79
    assert fields == {"available_balance": "75.08", "available_kwh": "150.67", "amount_kwh": "198.79",
                      "kwh_tariff": "fj-residential@2016-11-01", "kwh_basis": "tier"}
    assert Decimal("150.67") * Decimal("0.4983") <= Decimal("75.08") < Decimal("150.68") * Decimal("0.4983")


def test_negative_available_balance_buys_nothing(world: World) -> None:
    world.customer("F", mode="prepaid", opening=("2026-03-01", "0"))
    world.read("F", "2026-03-10", "50")
    with world.sessions.begin() as s:
        fields = prepaid.kwh_fields(s, "F", now=at("2026-03-10", 21), catalog=world.catalog)
    assert (fields["available_balance"], fields["available_kwh"]) == ("-24.92", "0.00")


def _pdf_checks(path) -> None:  # type: ignore[no-untyped-def]
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in fonts.splitlines()[2:] if line.strip()]
    assert rows, fonts
    for row in rows:
        emb = row[-5]  # name type encoding emb sub uni object ID
        assert emb == "yes", fonts
    out = path.with_suffix("")
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(path), str(out)], check=True, capture_output=True)
    pages = list(path.parent.glob(out.name + "*.png"))
    assert pages and all(p.stat().st_size > 1000 for p in pages)


@pytest.mark.skipif(shutil.which("pdftoppm") is None or shutil.which("pdffonts") is None,
                    reason="poppler-utils not installed")
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_bill_and_report_pdfs_render_with_embedded_fonts(world: World, tmp_path, lang: str) -> None:
    world.customer("F", mode="prepaid", area="思明区", opening=("2026-03-01", "0"), low_income=True,
                   time_of_use=True, opening_tou=("0", "0"))
    world.customer("P", mode="postpaid", area="湖里区", tariff="jx-residential", opening=("2026-03-01", "0"))
    world.pay("F", "20.00", "2026-03-02", channel="alipay")
    world.read_many([("F", "MF", "2026-03-31", "500", "300", "200", False),
                     ("P", "MP", "2026-03-31", "2500", None, None, False)])
    world.bill("2026-03", "2026-03-31")
    with world.sessions.begin() as s:
        bills = billing.bills_of(s, "F") + billing.bills_of(s, "P")
        report = collection.collection_report(s, "2026-04", now=at("2026-05-01"))
    for bill in bills:
        path = tmp_path / f"bill-{bill.account_no}-{lang}.pdf"
        path.write_bytes(pdf.bill_pdf(bill, lang=lang))
        _pdf_checks(path)
    path = tmp_path / f"report-{lang}.pdf"
    data = pdf.report_pdf(report, lang=lang)
    assert data == pdf.report_pdf(report, lang=lang)  # deterministic
    path.write_bytes(data)
    _pdf_checks(path)
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True).stdout
    assert "湖里区" in text and ("电费回收分析" in text if lang == "zh" else "collection analysis" in text)
    # issue 22: money as people write it, channels by name, never a raw id
    assert re.search(r"¥\d{1,3}(,\d{3})*\.\d{2}", text), text
    assert ("支付宝" if lang == "zh" else "Alipay") in text and "alipay" not in text
    assert "None" not in text


def test_unknown_language_refused(world: World) -> None:
    from vouchers.metering.errors import ReportError

    world.customer("P", opening=("2026-03-01", "0"))
    world.read("P", "2026-03-31", "10")
    world.bill("2026-03", "2026-03-31")
    with world.sessions.begin() as s:
        bill = billing.bills_of(s, "P")[0]
    with pytest.raises(ReportError):
        pdf.bill_pdf(bill, lang="fr")
