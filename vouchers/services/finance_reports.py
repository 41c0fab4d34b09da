"""What ``voucherctl report daily-close`` / ``report liability`` and the console's finance reports both produce.

The CSV rows (header first) and the liability PDF's sections, once: the CLI writes
them to the files it is given, the console sends them as downloads. Money is
written as decimal text in major units (``12.50``), never floats.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from pathlib import Path

from sqlalchemy.orm import Session

from vouchers.books.reports.breakage import breakage_report
from vouchers.books.reports.channels import channel_report
from vouchers.books.reports.liability import LiabilityReport
from vouchers.books.reports.trial_balance import trial_balance
from vouchers.money import format_amount as money
from vouchers.services.daily_close import DailyClose

DAILY_CLOSE_HEADER = ("section", "item", "count", "amount")
LIABILITY_HEADER = ("batch_id", "face_value", "active_count", "liability")


def daily_close_rows(r: DailyClose, checkpoint: dict | None = None) -> list[Sequence[object]]:
    """The daily close as CSV rows (without the header); ``checkpoint``: its signature when one was signed."""
    rf = r.liability
    return ([["channel_money_in", c.channel, c.count, money(c.money_in)] for c in r.channels]
            + [["channel_settled", c.channel, "", money(c.settled)] for c in r.channels]
            + [["channel_fees", c.channel, "", money(c.fees)] for c in r.channels]
            + [["liability", line.key, line.count, money(line.amount)]
               for line in (rf.opening, rf.activated, rf.redeemed, rf.expired, rf.voided, rf.closing)]
            + [["ledger", "voucher_liability_opening", "", money(rf.ledger_opening)],
               ["ledger", "voucher_liability_closing", "", money(rf.ledger_closing)],
               ["ledger", "journal_imbalance", "", money(r.journal_imbalance)]]
            + [["difference", d.check, "", money(d.amount)] for d in r.differences]
            + [["audit", "head_event_id", r.audit_head.events, r.audit_head.event_id],
               ["audit", "head_hash", "", r.audit_head.hash]]
            + ([["audit", "checkpoint_signature", "", checkpoint["signature"]]] if checkpoint else []))


def liability_rows(r: LiabilityReport) -> Iterator[Sequence[object]]:
    """The liability by batch as CSV rows (without the header)."""
    return ([b["batch_id"], money(int(b["face_value"])), b["active_count"], money(int(b["liability"]))]
            for b in r.by_batch)


def render_liability_pdf(session: Session, path: Path, r: LiabilityReport, *, first: dt.date, last: dt.date,
                         start: dt.datetime, end: dt.datetime, currency: str, tz: str, branding,
                         data_note: str | None = None) -> None:
    """The liability PDF: the report, with the channels, breakage and trial balance of the same period
    (``data_note``: the data's as-of, when read from a reports database)."""
    from print_templates.finance_reports import render_finance_report

    title_note = f"{first} .. {last} ({tz}) · {currency}" + (f" · {data_note}" if data_note else "")
    render_finance_report(
        path, title_note=title_note, liability=r,
        channels=channel_report(session, start=start, end=end, currency=currency, granularity="month", tz=tz),
        breakage=breakage_report(session, start=start, end=end, currency=currency, tz=tz),
        trial=trial_balance(session, as_of=end, currency=currency), tz=tz, branding=branding)


def print_branding(branding):  # -> print_templates.PrintBranding (printing loads reportlab: imported when used)
    """The utility's branding as reports print it."""
    from print_templates.model import PrintBranding

    return PrintBranding.from_branding(branding)


def render_daily_close_pdf(path: Path, r: DailyClose, *, checkpoint: dict | None = None,
                           data_note: str | None = None) -> None:
    """The daily close PDF (``checkpoint``: the signed audit head, when the edge could sign one)."""
    from print_templates.statements import render_daily_close

    render_daily_close(path, r, checkpoint=checkpoint, data_note=data_note)


def collection_pdf(result, *, lang: str, branding, data_note: str | None = None) -> bytes:
    """The collection report PDF of :func:`vouchers.services.collection.collection_report`'s result."""
    from print_templates import metering_reports

    return metering_reports.report_pdf(result.analysis, lang=lang, months=result.months, branding=branding,
                                       data_note=data_note)
