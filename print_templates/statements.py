"""PDFs of an account statement and of the daily close (日结), in the finance report's look.

Built from the finance report's pieces (:mod:`print_templates.finance_reports`:
its font, styles, tables and money format), so a change there applies here too.
Times are printed in the business time zone with their offset. The data
come from :mod:`vouchers.services.statements` and :mod:`vouchers.services.daily_close`
(typed ``Any`` here: this package renders what it is given and imports no service).
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

from vouchers.books.timeutil import DEFAULT_TZ, zone
from vouchers.money import format_amount
from print_templates.finance_reports import FONT, FontChoice, _styles, _table, _Text, choose_font


def _local(at: dt.datetime, tz: str) -> str:
    local = at.astimezone(zone(tz))
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M} (UTC{offset[:3]}:{offset[3:]})"


def _build(path: Path, title: str, story: list) -> None:
    doc = SimpleDocTemplate(str(path), pagesize=A4, title=title, author="voucherctl", initialFontName=FONT,
                            initialFontSize=9, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=16 * mm,
                            bottomMargin=16 * mm)
    doc.build(story)


def render_account_statement(path: Path, s: Any, *, tz: str = DEFAULT_TZ,
                             font: Path | None = None, data_note: str | None = None) -> FontChoice:
    choice = choose_font(font)
    t, st, m = _Text(choice.chinese, tz), _styles(), format_amount
    rows = [["time", "kind", "reference", "arrears", "balance", "amount"]]
    rows += [[_local(x.at, tz), x.kind, x.reference[:40], m(x.arrears), m(x.prepaid), m(x.amount)] for x in s.lines]
    story: list = [
        Paragraph(t("客户对账单", "Account statement") + f" · {s.account_no}", st["title"]),
        Paragraph(f"{s.name} · {s.period.first} .. {s.period.last} ({tz}) · {s.currency}", st["body"]),
        *([Paragraph(data_note, st["body"])] if data_note else []),
        Spacer(1, 3 * mm),
        _table([["", "balance", "arrears", "position"],
                ["opening", m(s.opening_prepaid), m(s.opening_arrears), m(s.opening)],
                ["closing", m(s.closing_prepaid), m(s.closing_arrears), m(s.closing)]],
               [40 * mm, 40 * mm, 40 * mm, 40 * mm]),
        Spacer(1, 4 * mm),
        _table(rows, [38 * mm, 24 * mm, 46 * mm, 22 * mm, 22 * mm, 22 * mm]),
        Spacer(1, 3 * mm),
        Paragraph(f"opening {m(s.opening)} + movements {m(s.computed_closing - s.opening)} = "
                  f"{m(s.computed_closing)}; ledger {m(s.closing)} - "
                  + ("closes" if s.closes else "DOES NOT CLOSE"), st["body"]),
    ]
    _build(path, "Account statement", story)
    return choice


def render_daily_close(path: Path, r: Any, *, checkpoint: dict | None = None,
                       font: Path | None = None, data_note: str | None = None) -> FontChoice:
    choice = choose_font(font)
    t, st, m, rf = _Text(choice.chinese, r.tz), _styles(), format_amount, r.liability
    story: list = [
        Paragraph(t("日结", "Daily close") + f" · {r.day} ({r.tz}) · {r.currency}", st["title"]),
        Paragraph(f"{_local(r.period.start, r.tz)} .. {_local(r.period.end, r.tz)}", st["body"]),
        *([Paragraph(data_note, st["body"])] if data_note else []),
        Paragraph(t("渠道", "Channels"), st["h2"]),
        _table([["channel", "payments", "money in", "settled", "fees"]]
               + [[c.channel, c.count, m(c.money_in), m(c.settled), m(c.fees)] for c in r.channels]
               + [["total", sum(c.count for c in r.channels), m(r.money_in), m(r.settled), m(r.fees)]],
               [50 * mm, 25 * mm, 35 * mm, 35 * mm, 30 * mm]),
        Paragraph(t("负债滚动", "Voucher liability roll-forward"), st["h2"]),
        _table([["", "cards", "amount"]]
               + [[line.key, line.count, m(line.amount)]
                  for line in (rf.opening, rf.activated, rf.redeemed, rf.expired, rf.voided, rf.closing)]
               + [["books: opening / closing", "", f"{m(rf.ledger_opening)} / {m(rf.ledger_closing)}"],
                  ["journal of the day: debits - credits", "", m(r.journal_imbalance)]],
               [90 * mm, 30 * mm, 50 * mm]),
        Paragraph(t("结果", "Result") + ": " + ("BALANCED" if r.balanced else "DOES NOT BALANCE"), st["h2"]),
    ]
    if r.differences:
        story.append(_table([["check", "difference", "what"]]
                            + [[d.check, m(d.amount), d.detail[:70]] for d in r.differences],
                            [40 * mm, 30 * mm, 100 * mm]))
    head = r.audit_head
    story += [Paragraph(t("审计链", "Audit chain"), st["h2"]),
              Paragraph(f"head at the end of the day: event {head.event_id} of {head.events}, hash {head.hash}",
                        st["body"])]
    if checkpoint is not None:
        story += [Paragraph("signed checkpoint (keep this paper: `voucherctl audit verify --checkpoint` checks the "
                            "chain against it):", st["body"]),
                  Paragraph(f"at {checkpoint['at']} · key {checkpoint['public_key']}", st["body"]),
                  Paragraph(f"signature {checkpoint['signature']}", st["body"])]
    _build(path, "Daily close", story)
    return choice
