"""The finance report as a PDF: liability with aging and roll-forward, channels, breakage,
trial balance; charts drawn by reportlab. Every font is an embedded TrueType font.

Font: the print engineer's CJK subset (print_templates/fonts/VoucherSansSC-Regular.ttf)
when present, else DejaVu Sans (then the Chinese labels are left out).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reportlab.graphics.charts.barcharts import HorizontalBarChart, VerticalBarChart
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from vouchers.books.errors import ReportError
from vouchers.books.reports.breakage import BreakageReport
from vouchers.books.reports.channels import ChannelReport
from vouchers.books.reports.liability import LiabilityReport
from vouchers.books.reports.trial_balance import TrialBalance
from vouchers.books.timeutil import DEFAULT_TZ, local_date
from vouchers.money import format_amount
from print_templates.typeset import bundled_font_path, covers, register_named

FONT = "LedgerReportSans"
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
_LABELS_ZH = "电费充值卡财务报表负债渠道试算平衡账龄滚动期初期末激活兑换过期作废分销商佣金缴费笔数金额占比批次面值合计"


@dataclass(frozen=True)
class FontChoice:
    path: Path
    chinese: bool


def choose_font(preferred: Path | None = None) -> FontChoice:
    """Register the report font (once; print_templates.typeset is the one font loader) and say whether
    it can show the Chinese labels."""
    for candidate in (preferred, bundled_font_path("Regular"), DEJAVU):
        if candidate is None or not Path(candidate).is_file():
            continue
        name = register_named(FONT, Path(candidate))
        return FontChoice(Path(candidate), covers(name, _LABELS_ZH))
    raise ReportError("no TrueType font to embed: install fonts-dejavu or ship print_templates/fonts")


class _Text:
    def __init__(self, chinese: bool, tz: str) -> None:
        self.chinese, self.tz = chinese, tz

    def __call__(self, zh: str, en: str) -> str:
        return f"{zh} {en}" if self.chinese else en

    def period(self, start: dt.datetime, end: dt.datetime) -> str:
        """Local first and last day of [start, end)."""
        first = local_date(start, self.tz)
        last = local_date(end - dt.timedelta(microseconds=1), self.tz)
        return f"{first} .. {last}"


def _styles() -> dict[str, ParagraphStyle]:
    return {
        "title": ParagraphStyle("title", fontName=FONT, fontSize=16, leading=20, spaceAfter=6),
        "h2": ParagraphStyle("h2", fontName=FONT, fontSize=12, leading=15, spaceBefore=10, spaceAfter=4),
        "body": ParagraphStyle("body", fontName=FONT, fontSize=9, leading=12),
    }


def _table(rows: Sequence[Sequence[object]], widths: Sequence[float] | None = None) -> Table:
    table = Table([[str(c) for c in row] for row in rows], colWidths=widths, repeatRows=1)
    table.setStyle(TableStyle([
        ("FONTNAME", (0, 0), (-1, -1), FONT), ("FONTSIZE", (0, 0), (-1, -1), 8),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dfe7ef")),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#9aa8b5")),
        ("ALIGN", (1, 1), (-1, -1), "RIGHT"), ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
    ]))
    return table


def _bar_chart(title: str, labels: Sequence[str], values: Sequence[int], *, horizontal: bool = False,
               width: float = 170 * mm, height: float = 60 * mm) -> Drawing:
    """Amounts in minor units drawn in major units (a chart's scale; the tables hold exact values)."""
    drawing = Drawing(width, height, initialFontName=FONT, initialFontSize=8)
    chart = HorizontalBarChart() if horizontal else VerticalBarChart()
    chart.x, chart.y = 45 * mm if horizontal else 20 * mm, 12 * mm
    chart.width, chart.height = width - chart.x - 8 * mm, height - 24 * mm
    chart.data = [[v // 100 for v in values] or [0]]
    chart.categoryAxis.categoryNames = list(labels) or ["-"]
    for axis in (chart.categoryAxis, chart.valueAxis):
        axis.labels.fontName = FONT
        axis.labels.fontSize = 7
    chart.valueAxis.valueMin = 0
    if not any(v // 100 for v in values):  # an empty period: a plain 0..1 axis, not 0.002 steps
        chart.valueAxis.valueMax, chart.valueAxis.valueStep = 1, 1
    chart.bars[0].fillColor = colors.HexColor("#3c78b4")
    drawing.add(chart)
    drawing.add(String(0, height - 8, title, fontName=FONT, fontSize=9))
    return drawing


def render_finance_report(path: Path, *, title_note: str, liability: LiabilityReport | None = None,
                          channels: ChannelReport | None = None, breakage: BreakageReport | None = None,
                          trial: TrialBalance | None = None, font: Path | None = None,
                          tz: str = DEFAULT_TZ) -> FontChoice:
    """Write the PDF; dates in the headings are local days in ``tz`` (periods end exclusive)."""
    choice = choose_font(font)
    t = _Text(choice.chinese, tz)
    st = _styles()
    story: list = [
        Paragraph(t("电费充值卡财务报表", "Recharge voucher finance report"), st["title"]),
        Paragraph(title_note, st["body"]),
    ]
    if liability is not None:
        story += _liability_section(liability, t, st)
    story += _other_sections(channels, breakage, trial, t, st)
    doc = SimpleDocTemplate(str(path), pagesize=A4, title="Voucher finance report", author="voucherctl",
                            initialFontName=FONT, initialFontSize=9,
                            leftMargin=18 * mm, rightMargin=18 * mm, topMargin=16 * mm, bottomMargin=16 * mm)
    doc.build(story)
    return choice


def _liability_section(liability: LiabilityReport, t: _Text, st: dict[str, ParagraphStyle]) -> list:
    m = format_amount
    story: list = [
        Paragraph(t("负债", "Voucher liability") + f" · {liability.currency}", st["h2"]),
        _table([["", "cards", "amount"],
                ["active cards (face value)", liability.active_count, m(liability.total)],
                ["voucher_liability (books)", "", m(liability.ledger_balance)],
                ["past last valid day (expiry job pending)", liability.past_last_valid_day.count,
                 m(liability.past_last_valid_day.amount)]], [90 * mm, 30 * mm, 40 * mm]),
        Spacer(1, 4 * mm),
        _bar_chart(t("账龄", "Aging of active cards (days since sale)"), [a.key for a in liability.aging],
                   [a.amount for a in liability.aging]),
    ]
    if liability.by_batch:
        rows = [["batch", "face value", "active", "liability"]]
        rows += [[b["batch_id"], m(int(b["face_value"])), b["active_count"], m(int(b["liability"]))]
                 for b in liability.by_batch[:25]]
        story += [Paragraph("by batch" + (" (first 25)" if len(liability.by_batch) > 25 else ""), st["body"]),
                  _table(rows, [50 * mm, 35 * mm, 30 * mm, 45 * mm])]
    if liability.roll_forward is not None:
        rf = liability.roll_forward
        story += [Paragraph(t("滚动", "Roll-forward") + " " + t.period(rf.start, rf.end), st["h2"]),
                  _table([["", "cards", "amount"]] + [
                      [line.key, line.count, m(line.amount)]
                      for line in (rf.opening, rf.activated, rf.redeemed, rf.expired, rf.voided, rf.closing)]
                      + [["books: opening / closing", "", f"{m(rf.ledger_opening)} / {m(rf.ledger_closing)}"],
                         [t("冻结待审 期初 / 期末", "held for review: opening / closing"), "",
                          f"{m(rf.held_opening)} / {m(rf.held_closing)}"],
                         ["closes", "", "yes" if rf.closes else "NO"]], [90 * mm, 30 * mm, 40 * mm])]
    return story


def _other_sections(channels: ChannelReport | None, breakage: BreakageReport | None, trial: TrialBalance | None,
                    t: _Text, st: dict[str, ParagraphStyle]) -> list:
    m = format_amount
    story: list = []
    if channels is not None:
        story += [Paragraph(t("渠道", "Payments by channel") + " " + t.period(channels.start, channels.end), st["h2"]),
                  _bar_chart("amount by channel", [c.channel for c in channels.totals],
                             [c.amount for c in channels.totals], horizontal=True,
                             height=max(40 * mm, (14 + 7 * len(channels.totals)) * mm)),
                  _table([["channel", "payments", "share", "amount", "share", "fees"]]
                         + [[c.channel, c.count, c.count_share + "%", m(c.amount), c.amount_share + "%", m(c.fees)]
                            for c in channels.totals]
                         + [["total", channels.count, "100.00%", m(channels.amount), "100.00%", m(channels.fees)]],
                         [42 * mm, 22 * mm, 22 * mm, 32 * mm, 22 * mm, 26 * mm])]
    if breakage is not None:
        story += [Paragraph("Breakage", st["h2"]),
                  _table([["month", "batch", "cards", "amount", "rate"]]
                         + [[b.month, b.batch_id, b.count, m(b.amount), b.rate + "%"] for b in breakage.lines[:25]]
                         + [["total", "", breakage.count, m(breakage.amount), ""],
                            ["income:breakage (books)", "", "", m(breakage.ledger_income), ""]])]
    if trial is not None:
        story += [Paragraph(t("试算平衡", "Trial balance"), st["h2"]),
                  _table([["account", "kind", "accounts", "debit", "credit"]]
                         + [[line.account, line.kind, line.accounts, m(line.debit), m(line.credit)]
                            for line in trial.lines]
                         + [["total", "", "", m(trial.total_debit), m(trial.total_credit)]],
                         [55 * mm, 22 * mm, 20 * mm, 35 * mm, 35 * mm])]
    return story
