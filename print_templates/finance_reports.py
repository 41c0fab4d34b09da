"""The finance report as a PDF: liability with aging and roll-forward, channels, breakage,
trial balance; charts drawn by reportlab. Every font is an embedded TrueType font.

Font: the print engineer's CJK subset (print_templates/fonts/VoucherSansSC-Regular.ttf)
when present, else DejaVu Sans (then the Chinese labels are left out).
"""
from __future__ import annotations

import dataclasses

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
from vouchers.books.reports.distributor import DistributorStatement
from vouchers.books.timeutil import DEFAULT_TZ, local_date, zone
from vouchers.display import display_name, local_text
from vouchers.money import format_amount
from print_templates.letterhead import letterhead
from print_templates.model import PrintBranding
from print_templates.numbers import currency_unit, money_text
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
        self.lang = "zh" if chinese else "en"

    def __call__(self, zh: str, en: str) -> str:
        return f"{zh} {en}" if self.chinese else en

    def money(self, minor: int, currency: str) -> str:
        """``¥10,529.88`` (Babel; en without the Chinese font: ``CN¥10,529.88``)."""
        return money_text(int(minor), currency, self.lang)

    def name(self, kind: str, key: str) -> str:
        """A channel's or account's display name, both languages when the font shows Chinese."""
        base = key.removesuffix(":*")  # a class of per-customer accounts in the trial balance
        zh, en = display_name(kind, base, "zh"), display_name(kind, base, "en")
        if zh == en:
            return key
        return f"{zh} {en}" if self.chinese else en

    def instant(self, moment: dt.datetime) -> str:
        """``2026-12-06 09:00 (UTC+8)`` in business time."""
        return local_text(moment, zone(self.tz))

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


def _bar_chart(title: str, labels: Sequence[str], values: Sequence[int], *, unit: str, horizontal: bool = False,
               width: float = 170 * mm, height: float = 60 * mm) -> Drawing:
    """Amounts in minor units drawn in major units (a chart's scale; the tables hold exact values).

    ``unit`` (元, CNY) is printed at the value axis: every axis says what it counts."""
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
    if horizontal:  # the value axis runs along the bottom: its unit at its right end
        drawing.add(String(chart.x + chart.width, 2 * mm, unit, fontName=FONT, fontSize=7, textAnchor="end"))
    else:
        drawing.add(String(chart.x - 2 * mm, chart.y + chart.height + 2 * mm, unit, fontName=FONT, fontSize=7,
                           textAnchor="middle"))
    return drawing


def render_finance_report(path: Path, *, title_note: str, liability: LiabilityReport | None = None,
                          channels: ChannelReport | None = None, breakage: BreakageReport | None = None,
                          trial: TrialBalance | None = None, distributor: DistributorStatement | None = None,
                          font: Path | None = None, tz: str = DEFAULT_TZ,
                          branding: PrintBranding | None = None) -> FontChoice:
    """Write the PDF; dates in the headings are local days in ``tz`` (periods end exclusive). The cover
    carries the utility's ``branding`` (logo, name, hotline) when given."""
    choice = choose_font(font)
    t = _Text(choice.chinese, tz)
    st = _styles()
    if branding is not None and not choice.chinese:  # a font without CJK glyphs: the English name only
        branding = dataclasses.replace(branding, utility_name=branding.utility_name.split(" ", 1)[-1])
    story: list = [
        *letterhead(branding, FONT),
        Paragraph(t("电费充值卡财务报表", "Recharge voucher finance report"), st["title"]),
        Paragraph(title_note, st["body"]),
    ]
    if liability is not None:
        story += _liability_section(liability, t, st)
    story += _other_sections(channels, breakage, trial, t, st)
    if distributor is not None:
        story += _distributor_section(distributor, t, st)
    doc = SimpleDocTemplate(str(path), pagesize=A4, title="Voucher finance report", author="voucherctl",
                            initialFontName=FONT, initialFontSize=9,
                            leftMargin=18 * mm, rightMargin=18 * mm, topMargin=16 * mm, bottomMargin=16 * mm)
    doc.build(story)
    return choice


def _liability_section(liability: LiabilityReport, t: _Text, st: dict[str, ParagraphStyle]) -> list:
    def m(minor: int) -> str:
        return t.money(minor, liability.currency)

    story: list = [
        Paragraph(t("负债", "Voucher liability") + f" · {liability.currency}", st["h2"]),
        _table([["", "cards", "amount"],
                ["active cards (face value)", liability.active_count, m(liability.total)],
                ["voucher_liability (books)", "", m(liability.ledger_balance)],
                ["past last valid day (expiry job pending)", liability.past_last_valid_day.count,
                 m(liability.past_last_valid_day.amount)]], [90 * mm, 30 * mm, 40 * mm]),
        Spacer(1, 4 * mm),
        _bar_chart(t("账龄", "Aging of active cards (days since sale)"), [a.key for a in liability.aging],
                   [a.amount for a in liability.aging], unit=currency_unit(liability.currency, t.lang)),
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
                      [t.name("status", line.key), line.count, m(line.amount)]
                      for line in (rf.opening, rf.activated, rf.redeemed, rf.expired, rf.voided, rf.closing)]
                      + [["books: opening / closing", "", f"{m(rf.ledger_opening)} / {m(rf.ledger_closing)}"],
                         ["closes", "", "yes" if rf.closes else "NO"]], [90 * mm, 30 * mm, 40 * mm])]
    return story


def _other_sections(channels: ChannelReport | None, breakage: BreakageReport | None, trial: TrialBalance | None,
                    t: _Text, st: dict[str, ParagraphStyle]) -> list:
    story: list = []
    if channels is not None:
        def m(minor: int) -> str:
            return t.money(minor, channels.currency)

        story += [Paragraph(t("渠道", "Payments by channel") + " " + t.period(channels.start, channels.end), st["h2"]),
                  _bar_chart(t("各渠道金额", "amount by channel"), [t.name("channel", c.channel) for c in channels.totals],
                             [c.amount for c in channels.totals], horizontal=True,
                             unit=currency_unit(channels.currency, t.lang),
                             height=max(40 * mm, (14 + 7 * len(channels.totals)) * mm)),
                  _table([["channel", "payments", "share", "amount", "share", "fees"]]
                         + [[t.name("channel", c.channel), c.count, c.count_share + "%", m(c.amount), c.amount_share + "%", m(c.fees)]
                            for c in channels.totals]
                         + [["total", channels.count, "100.00%", m(channels.amount), "100.00%", m(channels.fees)]],
                         [42 * mm, 22 * mm, 22 * mm, 32 * mm, 22 * mm, 26 * mm])]
    if breakage is not None:
        def m(minor: int) -> str:
            return t.money(minor, breakage.currency)

        story += [Paragraph("Breakage", st["h2"]),
                  _table([["month", "batch", "cards", "amount", "rate"]]
                         + [[b.month, b.batch_id, b.count, m(b.amount), b.rate + "%"] for b in breakage.lines[:25]]
                         + [["total", "", breakage.count, m(breakage.amount), ""],
                            ["income:breakage (books)", "", "", m(breakage.ledger_income), ""]])]
    if trial is not None:
        def m(minor: int) -> str:
            return t.money(minor, trial.currency)

        story += [Paragraph(t("试算平衡", "Trial balance"), st["h2"]),
                  _table([["account", "kind", "accounts", "debit", "credit"]]
                         + [[t.name("account", line.account), line.kind, line.accounts, m(line.debit),
                             m(line.credit)]
                            for line in trial.lines]
                         + [["total", "", "", m(trial.total_debit), m(trial.total_credit)]],
                         [55 * mm, 22 * mm, 20 * mm, 35 * mm, 35 * mm])]
    return story


def _distributor_section(s: DistributorStatement, t: _Text, st: dict[str, ParagraphStyle]) -> list:
    """A distributor's settlement statement: each line at its local time, what it owes before and after."""
    def m(minor: int | None) -> str:
        return "" if minor is None else t.money(minor, s.currency)

    rows = [["time", "kind", "reference", "cards", "face value", "commission", "owed +/-"]]
    rows += [[t.instant(x.at), x.kind, x.reference, "" if x.count is None else x.count, m(x.face_value),
              m(x.commission), m(x.amount)] for x in s.lines]
    return [Paragraph(t("分销商结算单", "Distributor statement") + f" · {s.distributor_id}"
                      + (f" ({s.name})" if s.name else "") + " " + t.period(s.start, s.end), st["h2"]),
            _table([["", "amount"], [t("期初应收", "owed at the start"), m(s.opening)],
                    [t("期末应收", "owed at the end"), m(s.closing)],
                    [t("售出", "sold") + f" ({s.sold_count})", m(s.sold_face)],
                    [t("佣金", "commission"), m(s.commission)]], [90 * mm, 50 * mm]),
            Spacer(1, 4 * mm),
            _table(rows, [35 * mm, 17 * mm, 56 * mm, 11 * mm, 19 * mm, 17 * mm, 19 * mm])]
