"""The finance report PDF as finance reads it (issue 22): ¥ with thousands separators, channels and accounts
by name, a unit on every chart axis, local days; read back with pdftotext."""
from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pytest

from print_templates.finance_reports import render_finance_report
from vouchers.books.reports.channels import ChannelLine, ChannelReport
from vouchers.books.reports.trial_balance import TrialBalance, TrialLine

# 2026-12-01 00:00 .. 2026-12-07 00:00 in Beijing (16:00 UTC the day before)
START = dt.datetime(2026, 11, 30, 16, tzinfo=dt.timezone.utc)
END = dt.datetime(2026, 12, 6, 16, tzinfo=dt.timezone.utc)


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_money_names_units_and_local_days(tmp_path: Path) -> None:
    line = ChannelLine("2026-12", "bank_debit", 3, 1052988, "100.00", "100.00", 1200)
    channels = ChannelReport(START, END, "CNY", "month", [line], [line], 3, 1052988, 1200)
    trial = TrialBalance(END, "CNY", [TrialLine("customer_prepaid:*", "liability", 2, 0, 1052988),
                                      TrialLine("bank", "asset", 1, 1052988, 0)], 1052988, 1052988)
    path = tmp_path / "finance.pdf"
    choice = render_finance_report(path, title_note="test", channels=channels, trial=trial)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "¥10,529.88" in text and "10529.88" not in text and "¥12.00" in text
    assert "2026-12-01 .. 2026-12-06" in text  # local days, not 2026-11-30 (UTC)
    if choice.chinese:
        assert "银行代扣" in text and "客户预付款" in text and "元" in text  # the chart's axis unit
    else:
        assert "bank auto-debit" in text and "CNY" in text
    assert "bank_debit" not in text and "None" not in text
