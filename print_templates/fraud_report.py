"""The fraud report as a PDF (zh/en): alerts and held amounts by rule, channel, distributor and month.

It renders what it is given (no database): the rows of
:func:`vouchers.services.fraud_cases.report_minor` with each rule's name in the
report's language, the range as instants (shown in local time), and the
currency. Money as its readers write it (``¥1,234.50``); channels by their
names in the language; the same embedded font, tables and deterministic output
as the metering reports (:mod:`print_templates.metering_reports`).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reportlab.platypus import Paragraph

from print_templates.letterhead import letterhead, letterhead_texts
from print_templates.metering_reports import _build, _styles, _table, register_font
from print_templates.model import PrintBranding
from print_templates.numbers import money_text, number_text
from vouchers.display import display_name, local_text
from vouchers.errors import VoucherError

LABELS = {
    "zh": {"title": "反欺诈报告", "range": "统计区间", "to": "至", "time_zone": "时区", "summary": "汇总",
           "by_rule": "按规则", "detail": "明细（规则、渠道、分销商、月份）", "rule": "规则", "channel": "渠道",
           "distributor": "分销商", "month": "月份", "alerts": "预警数", "holds": "冻结笔数", "held": "冻结金额",
           "still_held": "仍冻结金额", "total": "合计", "none": "区间内无预警"},
    "en": {"title": "Fraud report", "range": "Period", "to": "to", "time_zone": "Time zone", "summary": "Summary",
           "by_rule": "By rule", "detail": "Detail (rule, channel, distributor, month)", "rule": "Rule",
           "channel": "Channel", "distributor": "Distributor", "month": "Month", "alerts": "Alerts",
           "holds": "Holds", "held": "Held", "still_held": "Still held", "total": "Total",
           "none": "No alerts in the period"},
}


class FraudReportError(VoucherError, ValueError):
    """A report that cannot be printed (an unknown language)."""

    code = "invalid_report"


@dataclass(frozen=True)
class FraudReportView:
    since: dt.datetime
    until: dt.datetime
    tz: dt.tzinfo
    currency: str
    rows: Sequence[Mapping[str, Any]]  # report_minor's rows
    rule_names: Mapping[str, str]  # rule id -> its name in the report's language


def fraud_report_pdf(view: FraudReportView, *, lang: str = "zh", branding: PrintBranding | None = None) -> bytes:
    if lang not in LABELS:
        raise FraudReportError(f"language must be one of {', '.join(LABELS)}, got {lang!r}")
    L = LABELS[lang]

    def m(minor: int) -> str:
        return money_text(minor, view.currency, lang)

    def rule(rule_id: str) -> str:
        return f"{view.rule_names.get(rule_id, rule_id)} ({rule_id})"

    def channel(code: str) -> str:
        return display_name("channel", code, lang) if code != "-" else "-"

    title, heading, body = _styles()
    head = [L["rule"], L["alerts"], L["holds"], L["held"], L["still_held"]]
    per_rule: dict[str, list[int]] = {}
    for r in view.rows:
        t = per_rule.setdefault(r["rule"], [0, 0, 0, 0])
        for i, k in enumerate(("alerts", "holds", "held_minor", "still_held_minor")):
            t[i] += int(r[k])
    totals = [sum(t[i] for t in per_rule.values()) for i in range(4)]
    by_rule = [head] + [[rule(k), number_text(t[0], lang), number_text(t[1], lang), m(t[2]), m(t[3])]
                        for k, t in sorted(per_rule.items())]
    by_rule.append([L["total"], number_text(totals[0], lang), number_text(totals[1], lang), m(totals[2]),
                    m(totals[3])])
    detail = [[L["month"], L["rule"], L["channel"], L["distributor"], L["alerts"], L["holds"], L["held"]]] + [
        [r["month"], r["rule"], channel(r["channel"]), r["distributor"], number_text(int(r["alerts"]), lang),
         number_text(int(r["holds"]), lang), m(int(r["held_minor"]))] for r in view.rows]
    period = (f"{L['range']}: {local_text(view.since, view.tz)} {L['to']} {local_text(view.until, view.tz)} "
              f"({L['time_zone']}: {getattr(view.tz, 'key', str(view.tz))})")
    texts = [L[k] for k in L] + [period] + [c for rows in (by_rule, detail) for row in rows for c in row]
    texts += letterhead_texts(branding)
    story = [*letterhead(branding, register_font()), Paragraph(L["title"], title), Paragraph(period, body)]
    if not view.rows:
        story.append(Paragraph(L["none"], body))
    else:
        story += [Paragraph(L["by_rule"], heading), _table(by_rule),
                  Paragraph(L["detail"], heading), _table(detail)]
    return _build(story, texts)
