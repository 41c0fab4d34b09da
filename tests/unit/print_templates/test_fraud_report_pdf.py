"""The fraud report PDF (zh/en): it renders, and the figures in it are the rows' figures, money formatted,
the period in local time; read back with pdftotext."""
from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import zoneinfo
from pathlib import Path

import pytest

from print_templates.fraud_report import FraudReportError, FraudReportView, fraud_report_pdf
from vouchers.services.fraud_rules import RULES, describe

TZ = zoneinfo.ZoneInfo("Asia/Shanghai")
ROWS = [
    {"rule": "velocity.account_cards", "channel": "voucher", "distributor": "D001", "month": "2026-11", "alerts": 3,
     "holds": 2, "held_minor": 1_234_550, "still_held_minor": 1_000_000},
    {"rule": "channel.structuring", "channel": "alipay", "distributor": "-", "month": "2026-11", "alerts": 1_204,
     "holds": 0, "held_minor": 0, "still_held_minor": 0},
]


def _text(tmp_path: Path, lang: str, rows=ROWS) -> str:  # type: ignore[no-untyped-def]
    view = FraudReportView(dt.datetime(2026, 10, 31, 16, 0, tzinfo=dt.timezone.utc),
                           dt.datetime(2026, 11, 30, 16, 0, tzinfo=dt.timezone.utc), TZ, "CNY", rows,
                           {r: describe(r, lang) for r in RULES})
    pdf = fraud_report_pdf(view, lang=lang)
    assert pdf.startswith(b"%PDF-")
    path = tmp_path / f"fraud-{lang}.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_the_fraud_report_pdf_carries_the_figures_in_both_languages(tmp_path):
    zh = _text(tmp_path, "zh")
    assert "反欺诈报告" in zh and "同一户号一天内充值卡数超过上限" in zh
    assert "¥12,345.50" in zh and "¥10,000.00" in zh and "1,204" in zh and "支付宝" in zh
    assert "1,207" in zh  # the total of the alerts
    # the period in business time (UTC+8), not in UTC: 2026-11-01 00:00 to 2026-12-01 00:00
    assert "2026-11-01 00:00" in zh and "2026-12-01 00:00" in zh
    en = _text(tmp_path, "en")
    assert "Fraud report" in en and "CN¥12,345.50" in en and "Alipay" in en
    assert "one account credited by more cards" in en
    assert "No alerts" in _text(tmp_path, "en", rows=[])


def test_an_unknown_language_is_refused():
    view = FraudReportView(dt.datetime(2026, 11, 1, tzinfo=TZ), dt.datetime(2026, 12, 1, tzinfo=TZ), TZ, "CNY", [],
                           {})
    with pytest.raises(FraudReportError):
        fraud_report_pdf(view, lang="fr")
