"""PDFs: an electricity bill (zh/en) and the monthly collection report with charts.

Fonts are always embedded: the CJK subset font the print engineer ships
(``print_templates/fonts/VoucherSansSC-Regular.ttf``, located through
``importlib.resources``), or DejaVu Sans when that package is absent (Latin
only: a Chinese label then fails with :class:`ReportError` instead of
printing empty boxes). Output is deterministic (reportlab's invariant mode).
"""
from __future__ import annotations

import io
from collections.abc import Sequence

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from print_templates.letterhead import letterhead, letterhead_texts
from print_templates.model import PrintBranding
from vouchers.metering.billing import BillView
from vouchers.metering.collection import CATEGORIES, DAY_BUCKETS, CollectionReport, Group
from vouchers.metering.errors import ReportError
from vouchers.metering.units import format_kwh
from vouchers.books.reports.collection import CollectionLine
from vouchers.display import display_name
from vouchers.money import format_amount, parse_amount
from print_templates.numbers import currency_unit, money_text, number_text
from print_templates.typeset import bundled_font_path, register_named

FONT = "MeteringSans"


def register_font() -> str:
    """The bundled CJK font under this module's name (print_templates.typeset is the one font loader)."""
    return register_named(FONT, bundled_font_path("Regular"))


def _check_glyphs(texts: Sequence[str]) -> None:
    face = pdfmetrics.getFont(register_font()).face
    missing = sorted({ch for text in texts for ch in text if not ch.isspace() and ord(ch) not in face.charToGlyph})
    if missing:
        raise ReportError(f"the embedded font has no glyph for {''.join(missing)!r}")


LABELS = {
    "zh": {
        "bill_title": "电费账单", "account": "户号", "name": "户名", "period": "账期", "tariff": "电价",
        "mode": "缴费方式", "prepaid": "预付费", "postpaid": "后付费", "readings": "抄表起止日期",
        "kwh": "电量 (千瓦时)", "used_before": "本周期此前累计电量", "tier": "阶梯/项目", "price": "单价 (元)",
        "amount": "金额 (元)", "version": "电价版本", "subtotal": "小计 (精确)", "total": "合计 (元)",
        "from_prepaid": "预付余额抵扣", "owed": "应缴", "outstanding": "未缴", "due": "到期日",
        "status": "状态", "refund": "低保补贴返还", "peak": "峰段加价", "valley": "谷段减价",
        "allowance": "低保免费电量", "energy": "第{n}档", "months": "供电月数",
        "open": "未缴", "paid": "已结清", "part_paid": "部分缴纳", "zero": "零电费",
        "report_title": "电费回收分析", "month": "月份", "cutoff": "截止日期", "rates": "回收率",
        "cumulative": "累计回收率", "this_year": "本年度回收率", "earlier_years": "以前年度回收率",
        "month_rate": "本月回收率", "billable": "应收 (累计)", "collected": "实收 (累计)",
        "carried_in": "年初陈欠", "old_collected": "收回陈欠", "aging": "欠费账龄",
        "this_month": "本月欠费", "earlier_months": "本年往月", "prior_years": "陈欠", "penalties": "违约金",
        "days": "逾期天数", "by_area": "按区域", "by_channel": "按渠道", "group": "分组", "arrears": "欠费合计",
        "receipts": "本月收款 (按渠道)", "count": "笔数", "top": "欠费大户", "chart": "各区域欠费账龄 (元)",
        "chart_rates": "各区域回收率 (%)", "none": "无", "all": "全部",
        "month_running": "本月未结束，统计至截止日期", "by_month": "逐月回收率 (实收 ÷ 应收)", "billed": "应收",
        "collected_month": "实收", "rate": "回收率", "unit_money": "元", "unit_percent": "%",
    },
    "en": {
        "bill_title": "Electricity bill", "account": "Account", "name": "Name", "period": "Period",
        "tariff": "Tariff", "mode": "Payment", "prepaid": "prepaid", "postpaid": "postpaid",
        "readings": "Readings", "kwh": "Consumption (kWh)", "used_before": "Used earlier in the tariff period",
        "tier": "Tier / item", "price": "Price (CNY)", "amount": "Amount (CNY)", "version": "Tariff version",
        "subtotal": "Subtotal (exact)", "total": "Total (CNY)", "from_prepaid": "Paid from prepaid balance",
        "owed": "To pay", "outstanding": "Unpaid", "due": "Due date", "status": "Status",
        "refund": "Low-income refund", "peak": "Peak adjustment", "valley": "Valley adjustment",
        "allowance": "Low-income free kWh", "energy": "Tier {n}", "months": "Months of supply",
        "open": "open", "paid": "paid", "part_paid": "partly paid", "zero": "nothing to pay",
        "report_title": "Electricity collection analysis", "month": "Month", "cutoff": "Cut-off",
        "rates": "Collection rates", "cumulative": "Cumulative", "this_year": "This year",
        "earlier_years": "Earlier years", "month_rate": "This month", "billable": "Billable to date",
        "collected": "Collected to date", "carried_in": "Arrears carried in", "old_collected": "Old arrears collected",
        "aging": "Arrears aging", "this_month": "This month", "earlier_months": "Earlier months",
        "prior_years": "Prior years", "penalties": "Penalties", "days": "Days past due", "by_area": "By area",
        "by_channel": "By channel", "group": "Group", "arrears": "Arrears", "receipts": "Received this month",
        "count": "Count", "top": "Largest arrears", "chart": "Arrears aging by area (CNY)",
        "chart_rates": "Collection rates by area (%)", "none": "none", "all": "All",
        "month_running": "the month has not ended: reported to the cut-off day", "by_month": "Rate per month "
        "(collected ÷ billed)", "billed": "Billed", "collected_month": "Collected", "rate": "Rate",
        "unit_money": "CNY", "unit_percent": "%",
    },
}


def _styles() -> tuple[ParagraphStyle, ParagraphStyle, ParagraphStyle]:
    font = register_font()
    title = ParagraphStyle("title", fontName=font, fontSize=16, leading=20, spaceAfter=6)
    heading = ParagraphStyle("heading", fontName=font, fontSize=11, leading=14, spaceBefore=8, spaceAfter=4)
    body = ParagraphStyle("body", fontName=font, fontSize=9, leading=12)
    return title, heading, body


def _table(rows: list[list[str]], widths: Sequence[float] | None = None, header: bool = True,
           numeric: bool = True) -> Table:
    table = Table(rows, colWidths=widths, hAlign="LEFT")
    style = [("FONTNAME", (0, 0), (-1, -1), register_font()), ("FONTSIZE", (0, 0), (-1, -1), 8.5),
             ("GRID", (0, 0), (-1, -1), 0.3, colors.grey), ("VALIGN", (0, 0), (-1, -1), "MIDDLE")]
    if numeric:
        style.append(("ALIGN", (1, 0), (-1, -1), "RIGHT"))
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef7")))
    table.setStyle(TableStyle(style))
    return table


def _build(story: list, texts: list[str]) -> bytes:  # type: ignore[type-arg]
    _check_glyphs(texts)
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=15 * mm,
                            bottomMargin=15 * mm, invariant=1, title="", author="", subject="", creator="metering",
                            initialFontName=register_font())
    doc.build(story)
    return out.getvalue()


def _line_label(labels: dict[str, str], tier: str, kind: str) -> str:
    if kind == "energy":
        return labels["energy"].format(n=tier)
    return labels.get(tier, tier)


def bill_pdf(bill: BillView, *, lang: str = "zh", branding: PrintBranding | None = None) -> bytes:
    """One bill as a PDF, in Chinese (``zh``) or English (``en``), under the utility's ``branding``."""
    if lang not in LABELS:
        raise ReportError(f"language must be one of {', '.join(LABELS)}, got {lang!r}")
    L = LABELS[lang]
    title, _, _ = _styles()
    texts: list[str] = [bill.customer_name]
    head = [
        [L["account"], bill.account_no, L["name"], bill.customer_name],
        [L["period"], bill.period, L["tariff"], bill.tariff_id],
        [L["mode"], L[bill.payment_mode], L["months"], str(bill.months_of_supply)],
        [L["readings"], f"{bill.opening_date or '-'} — {bill.closing_date}", L["kwh"], format_kwh(bill.kwh_ckwh) or ""],
        [L["used_before"], format_kwh(bill.used_before_ckwh) or "", L["version"], bill.version_from.isoformat()],
    ]
    lines = [[L["tier"], L["version"], L["kwh"], L["price"], L["amount"]]]
    for line in bill.lines:
        lines.append([_line_label(L, line.tier, line.kind), line.version_from.isoformat(), format(line.kwh, "f"),
                      format(line.price, "f"), format(line.amount, "f")])
    lines.append([L["subtotal"], "", "", "", bill.subtotal])
    money = [
        [L["total"], format_amount(bill.total_fen)],
        [L["from_prepaid"], format_amount(bill.from_prepaid_fen)],
        [L["owed"], format_amount(bill.owed_fen)],
        [L["outstanding"], format_amount(bill.outstanding_fen)],
        [L["due"], bill.due_date.isoformat()],
        [L["status"], L[bill.status]],
    ]
    if bill.allowance_refund_fen:
        money.insert(1, [L["refund"], format_amount(bill.allowance_refund_fen)])
    for rows in (head, lines, money):
        texts.extend(cell for row in rows for cell in row)
    texts += letterhead_texts(branding)
    story = [*letterhead(branding, register_font()), Paragraph(L["bill_title"], title),
             _table(head, [32 * mm, 50 * mm, 32 * mm, 60 * mm], header=False, numeric=False),
             Spacer(1, 4 * mm), _table(lines, [40 * mm, 28 * mm, 32 * mm, 32 * mm, 36 * mm]), Spacer(1, 4 * mm),
             _table(money, [50 * mm, 40 * mm], header=False)]
    texts.append(L["bill_title"])
    return _build(story, texts)


def _rates_row(name: str, group: Group, currency: str, lang: str) -> list[str]:
    r = group.rates

    def pct(v) -> str:  # type: ignore[no-untyped-def]
        return "-" if v is None else f"{v}%"

    return [name, pct(r.cumulative), pct(r.this_year), pct(r.earlier_years), pct(r.month),
            money_text(group.aging.total, currency, lang)]


def _axis_unit(drawing: Drawing, chart: VerticalBarChart, unit: str) -> None:
    """The value axis's unit above it (every chart axis says what it counts)."""
    drawing.add(String(chart.x - 2 * mm, chart.y + chart.height + 2 * mm, unit, fontName=FONT, fontSize=7,
                       textAnchor="middle"))


def _aging_chart(report: CollectionReport, L: dict[str, str], lang: str) -> Drawing:
    areas = sorted(report.by_area) or [L["none"]]
    drawing = Drawing(180 * mm, 75 * mm, initialFontName=FONT)
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 15 * mm, 15 * mm, 115 * mm, 50 * mm
    # bar heights in yuan: drawing coordinates only (every figure is printed exactly in the tables)
    chart.data = [[report.by_area[a].aging.by_category[c] / 100 if a in report.by_area else 0 for a in areas]
                  for c in CATEGORIES]
    chart.categoryAxis.categoryNames = [display_name("area", a, lang) for a in areas]
    chart.categoryAxis.style = "stacked"
    chart.categoryAxis.labels.fontName = FONT
    chart.categoryAxis.labels.fontSize = 7
    chart.valueAxis.labels.fontName = FONT
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.valueMin = 0
    palette = [colors.HexColor(c) for c in ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2")]
    for i, color in enumerate(palette):
        chart.bars[i].fillColor = color
    legend = Legend()
    legend.x, legend.y = 135 * mm, 60 * mm
    legend.fontName = FONT
    legend.fontSize = 7
    legend.colorNamePairs = [(palette[i], L[c]) for i, c in enumerate(CATEGORIES)]
    drawing.add(chart)
    drawing.add(legend)
    drawing.add(String(15 * mm, 70 * mm, L["chart"], fontName=FONT, fontSize=9))
    _axis_unit(drawing, chart, currency_unit(report.currency, lang))
    return drawing


def _rates_chart(report: CollectionReport, L: dict[str, str], lang: str) -> Drawing:
    areas = sorted(report.by_area) or [L["none"]]
    drawing = Drawing(180 * mm, 65 * mm, initialFontName=FONT)
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 15 * mm, 12 * mm, 115 * mm, 42 * mm

    def value(v) -> float:  # type: ignore[no-untyped-def]
        return 0.0 if v is None else float(v)  # drawing coordinates only; the figures are in the tables

    chart.data = [[value(report.by_area[a].rates.cumulative) if a in report.by_area else 0 for a in areas],
                  [value(report.by_area[a].rates.this_year) if a in report.by_area else 0 for a in areas]]
    chart.categoryAxis.categoryNames = [display_name("area", a, lang) for a in areas]
    chart.categoryAxis.labels.fontName = FONT
    chart.categoryAxis.labels.fontSize = 7
    chart.valueAxis.labels.fontName = FONT
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.valueMin = 0
    chart.valueAxis.valueMax = 100
    chart.bars[0].fillColor = colors.HexColor("#59a14f")
    chart.bars[1].fillColor = colors.HexColor("#edc948")
    legend = Legend()
    legend.x, legend.y = 135 * mm, 50 * mm
    legend.fontName = FONT
    legend.fontSize = 7
    legend.colorNamePairs = [(colors.HexColor("#59a14f"), L["cumulative"]),
                             (colors.HexColor("#edc948"), L["this_year"])]
    drawing.add(chart)
    drawing.add(legend)
    drawing.add(String(15 * mm, 60 * mm, L["chart_rates"], fontName=FONT, fontSize=9))
    _axis_unit(drawing, chart, L["unit_percent"])
    return drawing


def report_pdf(report: CollectionReport, *, lang: str = "zh", months: Sequence[CollectionLine] = (),
               branding: PrintBranding | None = None, data_note: str | None = None) -> bytes:
    """The collection report: cut-off, rate per month, rates, aging, areas, channels, receipts, top arrears,
    two charts. Money as its readers write it (``¥10,529.88``); channels by their names in ``lang``; the
    utility's letterhead from ``branding``; ``data_note`` (the data's as-of) under the title."""
    if lang not in LABELS:
        raise ReportError(f"language must be one of {', '.join(LABELS)}, got {lang!r}")
    L = LABELS[lang]
    cur = report.currency

    def m(minor: int) -> str:
        return money_text(minor, cur, lang)

    def channel(code: str) -> str:
        return display_name("channel", code, lang)

    def area(name: str) -> str:
        return display_name("area", name, lang)

    title, heading, body = _styles()
    texts: list[str] = []
    summary = [[L["month"], report.month, L["cutoff"], report.cutoff.isoformat()],
               [L["billable"], m(report.total.rates.billable_to_date), L["collected"],
                m(report.total.rates.collected_to_date)],
               [L["carried_in"], m(report.total.rates.carried_in), L["old_collected"],
                m(report.total.rates.old_collected)]]
    by_month = [[L["month"], L["billed"], L["collected_month"], L["rate"]]] + [
        [x.month, m(x.billed), m(x.collected), f"{x.rate}%" if x.rate is not None else "-"] for x in months]
    rate_head = [L["group"], L["cumulative"], L["this_year"], L["earlier_years"], L["month_rate"], L["arrears"]]
    rates = [rate_head, _rates_row(L["all"], report.total, cur, lang)]
    rates += [_rates_row(area(name), g, cur, lang) for name, g in sorted(report.by_area.items())]
    channels = [rate_head] + [_rates_row(channel(name), g, cur, lang) for name, g in sorted(report.by_channel.items())]
    aging = [[L["group"]] + [L[c] for c in CATEGORIES] + [L["arrears"]]]
    for name, g in [(L["all"], report.total), *((area(a), g) for a, g in sorted(report.by_area.items()))]:
        aging.append([name] + [m(g.aging.by_category[c]) for c in CATEGORIES] + [m(g.aging.total)])
    days = [[L["group"]] + list(DAY_BUCKETS)]
    for name, g in [(L["all"], report.total), *((area(a), g) for a, g in sorted(report.by_area.items())),
                    *((channel(c), g) for c, g in sorted(report.by_channel.items()))]:
        days.append([name] + [m(g.aging.by_days[b]) for b in DAY_BUCKETS])
    receipts = [[L["group"], L["count"], L["amount"]]] + [
        [channel(ch), number_text(n, lang), m(a)] for ch, (n, a) in sorted(report.receipts.items())]
    top = [[L["account"], L["group"], L["arrears"], L["due"], L["days"]]] + [
        [str(r["account_no"]), area(str(r["area"])), m(parse_amount(str(r["arrears"]))), str(r["oldest_due"]),
         str(r["days_past_due"])]
        for r in report.top_arrears]
    for rows in (summary, by_month, rates, channels, aging, days, receipts, top):
        texts.extend(cell for row in rows for cell in row)
    texts += [L[k] for k in ("report_title", "rates", "by_area", "by_channel", "aging", "days", "receipts", "top",
                             "chart", "chart_rates", "none", "all", "month_running", "by_month", *CATEGORIES)]
    texts += letterhead_texts(branding)
    story = [*letterhead(branding, register_font()), Paragraph(L["report_title"], title)]
    if data_note:
        texts.append(data_note)
        story.append(Paragraph(data_note, body))
    story.append(_table(summary, header=False))
    if not report.month_complete:
        story.append(Paragraph(f"{L['month_running']}: {report.cutoff.isoformat()}", body))
    if months:
        story += [Paragraph(L["by_month"], heading), _table(by_month)]
    story += [
        Paragraph(f"{L['rates']} — {L['by_area']}", heading), _table(rates),
        Paragraph(f"{L['rates']} — {L['by_channel']}", heading), _table(channels),
        _rates_chart(report, L, lang),
        Paragraph(L["aging"], heading), _table(aging),
        _aging_chart(report, L, lang),
        Paragraph(f"{L['aging']} — {L['days']}", heading), _table(days),
        Paragraph(L["receipts"], heading), _table(receipts),
        Paragraph(L["top"], heading), _table(top),
    ]
    return _build(story, texts)
