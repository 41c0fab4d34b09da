"""``voucherctl report``: finance reports as text, JSON (--json), CSV (--csv OUT) and PDF (--pdf OUT).

Dates are local business days (VOUCHER_TIMEZONE, default Asia/Shanghai):
``--as-of 2026-11-30`` means the end of that day; ``--from``/``--to`` are
inclusive. ``--pdf`` renders the finance report with the sections the
command computes (``liability --pdf`` also adds channels, breakage and the
trial balance of the same period).
"""
from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import click

from vouchers.books.csvformat import text_cell
from vouchers.books.reports.breakage import BreakageReport, breakage_report
from vouchers.books.reports.channels import ChannelReport, channel_report
from vouchers.books.reports.distributor import distributor_statement
from vouchers.books.reports.liability import LiabilityReport, liability_report
from vouchers.books.reports.trial_balance import TrialBalance, trial_balance
from vouchers.books.timeutil import end_of_day, start_of_day, zone
from vouchers.display import local_iso, local_text
from voucherctl import context
from voucherctl.ledger_cmd import money, parse_date, today
from voucherctl.billing_cmd import cli_errors
from voucherctl.collection_cmd import write_collection_report
from voucherctl.data_as_of import allow_stale_option, emit_report, pdf_note
from voucherctl.output import CliError, csv_encoding, excel_option, json_option, output_files
from vouchers.money import SUPPORTED_CURRENCIES
from vouchers.services import finance_reports

csv_option = click.option("--csv", "csv_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
                          help="Also write the report's rows to this CSV file.")
pdf_option = click.option("--pdf", "pdf_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
                          help="Also render a PDF report (charts by reportlab, embedded fonts).")


class _CurrencyChoice(click.Choice):
    """The currencies the books keep; ``cny`` is read as ``CNY``."""

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> object:
        return super().convert(value.upper() if isinstance(value, str) else value, param, ctx)


currency_option = click.option("--currency", type=_CurrencyChoice(SUPPORTED_CURRENCIES), default=None, metavar="CODE",
                               help="ISO 4217 (default VOUCHER_CURRENCY or CNY).")


def _period(date_from: str | None, date_to: str | None, *, to_option: str = "--to"
            ) -> tuple[dt.date, dt.date, dt.datetime, dt.datetime]:
    """--from .. --to (``to_option``: the command's name for it) as local days, and the instants bounding them."""
    last = parse_date(date_to, to_option) if date_to else today()
    first = parse_date(date_from, "--from") if date_from else last.replace(day=1)
    if first > last:
        raise CliError(f"--from {first} is after {to_option} {last}" + ("" if date_to else " (today)"))
    tz = context.settings().timezone
    from_label = f"--from {first}" if date_from else f"{to_option} {last} (from the 1st of its month)"
    return (first, last, _instant(start_of_day, first, from_label, tz),
            _instant(end_of_day, last, f"{to_option} {last}", tz))


def _instant(bound: Callable[[dt.date, str], dt.datetime], day: dt.date, label: str, tz: str) -> dt.datetime:
    """``start_of_day`` or ``end_of_day`` of ``day``; a day at the very edge of the calendar is refused."""
    try:
        return bound(day, tz)
    except OverflowError as e:
        raise CliError(f"{label} is out of the range of dates this report can cover") from e


def _write_csv(path: Path | None, header: Sequence[str], rows: Iterable[Sequence[object]], excel: bool) -> None:
    """The report's rows; ``excel``: UTF-8 with a BOM for spreadsheets (text cells stay formula-neutralised)."""
    if path is None:
        return
    with path.open("w", encoding=csv_encoding(excel), newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def _currency(currency: str | None) -> str:
    return (currency or context.settings().currency).upper()


@click.group()
def report() -> None:
    """Finance reports: liability, breakage, channels, collection, trial balance, distributor."""


def liability_document(r: LiabilityReport) -> dict:
    """The document of docs/contract.md §4 (currency, total, by_batch, ledger_balance) plus the detail.

    Instants (as_of, the roll-forward's start and end) are business time with their offset."""
    local = zone(context.settings().timezone)
    document = {
        "currency": r.currency, "total": money(r.total),
        "by_batch": [{"batch_id": b["batch_id"], "active_count": b["active_count"],
                      "liability": money(int(b["liability"])), "face_value": money(int(b["face_value"]))}
                     for b in r.by_batch],
        "ledger_balance": money(r.ledger_balance),
        "as_of": local_iso(r.as_of, local), "active_count": r.active_count, "difference": money(r.ledger_balance - r.total),
        "by_face_value": [{"face_value": money(int(x.key)), "active_count": x.count, "liability": money(x.amount)}
                          for x in r.by_face_value],
        "by_distributor": [{"distributor_id": x.key, "active_count": x.count, "liability": money(x.amount)}
                           for x in r.by_distributor],
        "aging": [{"days": x.key, "active_count": x.count, "liability": money(x.amount)} for x in r.aging],
        "past_last_valid_day": {"active_count": r.past_last_valid_day.count,
                                "liability": money(r.past_last_valid_day.amount)},
    }
    if r.roll_forward is not None:
        rf = r.roll_forward
        document["roll_forward"] = {
            "start": local_iso(rf.start, local), "end": local_iso(rf.end, local),
            **{line.key: {"count": line.count, "amount": money(line.amount)}
               for line in (rf.opening, rf.activated, rf.redeemed, rf.expired, rf.voided, rf.closing)},
            "ledger_opening": money(rf.ledger_opening), "ledger_closing": money(rf.ledger_closing),
            "held_funds": {"opening": money(rf.held_opening), "closing": money(rf.held_closing)},
            "closes": rf.closes,
        }
    return document


@report.command("liability")
@click.option("--as-of", "as_of", default=None, help="Local date (default today): the liability at its end.")
@click.option("--from", "date_from", default=None, help="Start of the roll-forward (default: 1st of the month).")
@currency_option
@csv_option
@pdf_option
@excel_option
@allow_stale_option
@json_option
def liability(as_of: str | None, date_from: str | None, currency: str | None, csv_out: Path | None,
              pdf_out: Path | None, excel: bool, allow_stale: bool, as_json: bool) -> None:
    """Outstanding voucher value by batch, face value, distributor and age, with a roll-forward."""
    first, last, start, end = _period(date_from, as_of, to_option="--as-of")
    cur = _currency(currency)
    with output_files(csv_out, pdf_out) as (csv_file, pdf_file), \
            context.report_session(allow_stale) as (session, data_as_of):
        r = liability_report(session, as_of=end, currency=cur, last_valid_day=last, period_start=start)
        if pdf_file:
            finance_reports.render_liability_pdf(session, pdf_file, r, first=first, last=last, start=start, end=end,
                                                 currency=cur, tz=context.settings().timezone,
                                                 branding=context.print_branding(), data_note=pdf_note(data_as_of))
        _write_csv(csv_file, finance_reports.LIABILITY_HEADER, finance_reports.liability_rows(r), excel)
    document = liability_document(r)

    def human() -> None:
        click.echo(f"voucher liability as of {last} (end of day): {money(r.total)} {cur} on {r.active_count} cards; "
                   f"books {money(r.ledger_balance)}")
        for b in r.by_batch:
            click.echo(f"  {b['batch_id']}  {b['active_count']:>9} x {money(int(b['face_value'])):>8} = "
                       f"{money(int(b['liability']))}")
        for a in r.aging:
            click.echo(f"  age {a.key:>8} days: {a.count:>9} cards {money(a.amount)}")
        if r.roll_forward is not None:
            rf = r.roll_forward
            click.echo(f"  roll-forward from {first}: opening {money(rf.opening.amount)} + activated "
                       f"{money(rf.activated.amount)} - redeemed {money(rf.redeemed.amount)} - expired "
                       f"{money(rf.expired.amount)} - voided {money(rf.voided.amount)} = closing "
                       f"{money(rf.closing.amount)} ({'closes' if rf.closes else 'DOES NOT CLOSE'})")
            click.echo(f"  held for fraud review (liability:held_funds): opening {money(rf.held_opening)}, "
                       f"closing {money(rf.held_closing)}")

    emit_report(as_json, document, human, data_as_of)


@report.command("breakage")
@click.option("--from", "date_from", default=None)
@click.option("--to", "date_to", default=None)
@currency_option
@csv_option
@pdf_option
@excel_option
@allow_stale_option
@json_option
def breakage(date_from: str | None, date_to: str | None, currency: str | None, csv_out: Path | None,
             pdf_out: Path | None, excel: bool, allow_stale: bool, as_json: bool) -> None:
    """Value of cards that expired unredeemed (breakage income), per month and batch."""
    first, last, start, end = _period(date_from, date_to)
    cur = _currency(currency)
    with output_files(csv_out, pdf_out) as (csv_file, pdf_file):
        with context.report_session(allow_stale) as (session, data_as_of):
            r: BreakageReport = breakage_report(session, start=start, end=end, currency=cur,
                                                tz=context.settings().timezone)
        _write_csv(csv_file, ["month", "batch_id", "count", "amount", "activated", "rate_percent"],
                   ([x.month, x.batch_id, x.count, money(x.amount), money(x.activated), x.rate] for x in r.lines), excel)
        if pdf_file:
            from print_templates.finance_reports import render_finance_report

            render_finance_report(pdf_file, branding=context.print_branding(),
                                  title_note=f"breakage {first} .. {last} · {cur} · {pdf_note(data_as_of)}",
                                  breakage=r,
                                  tz=context.settings().timezone)
    emit_report(as_json, {"currency": cur, "from": first.isoformat(), "to": last.isoformat(), "count": r.count,
                   "amount": money(r.amount), "ledger_income": money(r.ledger_income),
                   "lines": [{"month": x.month, "batch_id": x.batch_id, "count": x.count, "amount": money(x.amount),
                              "activated": money(x.activated), "rate": x.rate} for x in r.lines]},
         f"breakage {first} .. {last}: {r.count} cards, {money(r.amount)} {cur} (books {money(r.ledger_income)})",
         data_as_of)


@report.command("channels")
@click.option("--from", "date_from", default=None)
@click.option("--to", "date_to", default=None)
@click.option("--by", "granularity", type=click.Choice(["day", "month"]), default="month", show_default=True)
@currency_option
@csv_option
@pdf_option
@excel_option
@allow_stale_option
@json_option
def channels(date_from: str | None, date_to: str | None, granularity: str, currency: str | None,
             csv_out: Path | None, pdf_out: Path | None, excel: bool, allow_stale: bool, as_json: bool) -> None:
    """Payments and redemptions by channel per day or month: count, amount, share, and the fees channels
    kept when they settled (in the period of the settlement)."""
    first, last, start, end = _period(date_from, date_to)
    cur = _currency(currency)
    with output_files(csv_out, pdf_out) as (csv_file, pdf_file):
        with context.report_session(allow_stale) as (session, data_as_of):
            r: ChannelReport = channel_report(session, start=start, end=end, currency=cur, granularity=granularity,
                                              tz=context.settings().timezone)
        _write_csv(csv_file, ["period", "channel", "count", "count_share_percent", "amount", "amount_share_percent",
                              "fees"],
                   ([x.period, x.channel, x.count, x.count_share, money(x.amount), x.amount_share, money(x.fees)]
                    for x in r.lines + r.totals), excel)
        if pdf_file:
            from print_templates.finance_reports import render_finance_report

            render_finance_report(pdf_file, branding=context.print_branding(),
                                  title_note=f"channels {first} .. {last} · {cur} · {pdf_note(data_as_of)}",
                                  channels=r,
                                  tz=context.settings().timezone)

    def line(x) -> dict:
        return {"period": x.period, "channel": x.channel, "count": x.count, "count_share": x.count_share,
                "amount": money(x.amount), "amount_share": x.amount_share, "fees": money(x.fees)}

    def human() -> None:
        for x in r.totals:
            click.echo(f"{x.channel:<22} {x.count:>9} payments ({x.count_share:>6}%)  {money(x.amount):>14} "
                       f"({x.amount_share:>6}%)  fees {money(x.fees):>10}")
        click.echo(f"{'total':<22} {r.count:>9} payments            {money(r.amount):>14}"
                   f"           fees {money(r.fees):>10}")

    emit_report(as_json, {"currency": cur, "from": first.isoformat(), "to": last.isoformat(), "by": granularity,
                   "count": r.count, "amount": money(r.amount), "fees": money(r.fees),
                   "lines": [line(x) for x in r.lines],
                   "totals": [line(x) for x in r.totals]}, human, data_as_of)


@report.command("collection")
@click.option("--from", "date_from", default=None)
@click.option("--to", "date_to", default=None, help="Local date (default today; a day after today is cut to today).")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True, help="PDF language.")
@click.option("--top", default=20, show_default=True, type=click.IntRange(0, 1000), help="Largest arrears listed.")
@currency_option
@csv_option
@pdf_option
@excel_option
@allow_stale_option
@json_option
@cli_errors
def collection(date_from: str | None, date_to: str | None, lang: str, top: int, currency: str | None,
               csv_out: Path | None, pdf_out: Path | None, excel: bool, allow_stale: bool, as_json: bool) -> None:
    """Collection rate per month (applied to bills ÷ billed) and the collection analysis of the last month.

    The same report as ``voucherctl collection report``, over any local days."""
    first, last, _, _ = _period(date_from, date_to)
    write_collection_report(first, last, csv_out=csv_out, pdf_out=pdf_out, lang=lang, top=top, excel=excel,
                            as_json=as_json, currency=currency, allow_stale=allow_stale)


@report.command("trial-balance")
@click.option("--as-of", "as_of", default=None, help="Local date (default today), end of day.")
@click.option("--detail", is_flag=True, help="One line per account instead of per class.")
@currency_option
@csv_option
@pdf_option
@excel_option
@allow_stale_option
@json_option
def trial_balance_cmd(as_of: str | None, detail: bool, currency: str | None, csv_out: Path | None,
                      pdf_out: Path | None, excel: bool, allow_stale: bool, as_json: bool) -> None:
    """Debits and credits of every account (class); the totals must agree."""
    day = parse_date(as_of, "--as-of") if as_of else today()
    end = _instant(end_of_day, day, f"--as-of {day}", context.settings().timezone)
    cur = _currency(currency)
    with output_files(csv_out, pdf_out) as (csv_file, pdf_file):
        with context.report_session(allow_stale) as (session, data_as_of):
            r: TrialBalance = trial_balance(session, as_of=end, currency=cur, detail=detail)
        _write_csv(csv_file, ["account", "kind", "accounts", "debit", "credit"],
                   ([x.account, x.kind, x.accounts, money(x.debit), money(x.credit)] for x in r.lines), excel)
        if pdf_file:
            from print_templates.finance_reports import render_finance_report

            render_finance_report(pdf_file, branding=context.print_branding(),
                                  title_note=f"trial balance as of {day} · {cur} · {pdf_note(data_as_of)}",
                                  trial=r)
    emit_report(as_json, {"currency": cur, "as_of": local_iso(r.as_of, zone(context.settings().timezone)), "balanced": r.balanced,
                   "total_debit": money(r.total_debit), "total_credit": money(r.total_credit),
                   "lines": [{"account": x.account, "kind": x.kind, "accounts": x.accounts, "debit": money(x.debit),
                              "credit": money(x.credit)} for x in r.lines]},
         lambda: [click.echo(f"{x.account:<32} {x.kind:<10} {money(x.debit):>16} {money(x.credit):>16}")
                  for x in r.lines] + [click.echo(f"{'total':<43} {money(r.total_debit):>16} "
                                                  f"{money(r.total_credit):>16}")], data_as_of)


@report.command("distributor")
@click.argument("distributor_id")
@click.option("--from", "date_from", default=None)
@click.option("--to", "date_to", default=None)
@currency_option
@csv_option
@pdf_option
@excel_option
@allow_stale_option
@json_option
def distributor(distributor_id: str, date_from: str | None, date_to: str | None, currency: str | None,
                csv_out: Path | None, pdf_out: Path | None, excel: bool, allow_stale: bool, as_json: bool) -> None:
    """A distributor's settlement statement: sales, commission, voids, remittances, balance owed.

    Times are business time (VOUCHER_TIMEZONE) with their UTC offset, in the text, CSV, JSON and PDF."""
    first, last, start, end = _period(date_from, date_to)
    cur = _currency(currency)
    tz = context.settings().timezone
    local = zone(tz)
    with output_files(csv_out, pdf_out) as (csv_file, pdf_file):
        with context.report_session(allow_stale) as (session, data_as_of):
            s = distributor_statement(session, distributor_id, start=start, end=end, currency=cur)
        _write_csv(csv_file, ["at", "kind", "reference", "count", "face_value", "commission", "amount"],
                   ([local_iso(x.at, local), x.kind, text_cell(x.reference), x.count if x.count is not None else "",
                     money(x.face_value) if x.face_value is not None else "",
                     money(x.commission) if x.commission is not None else "", money(x.amount)] for x in s.lines),
                   excel)
        if pdf_file:
            from print_templates.finance_reports import render_finance_report

            render_finance_report(pdf_file, branding=context.print_branding(), title_note=f"{first} .. {last} ({tz}) · {cur} · {pdf_note(data_as_of)}",
                                  distributor=s, tz=tz)
    emit_report(as_json, {
        "distributor_id": s.distributor_id, "name": s.name, "commission_bp": s.commission_bp, "currency": cur,
        "from": first.isoformat(), "to": last.isoformat(), "opening": money(s.opening), "closing": money(s.closing),
        "sold_count": s.sold_count, "sold_face_value": money(s.sold_face), "commission": money(s.commission),
        "closes": s.closes,
        "lines": [{"at": local_iso(x.at, local), "kind": x.kind, "reference": x.reference, "count": x.count,
                   "face_value": money(x.face_value) if x.face_value is not None else None,
                   "commission": money(x.commission) if x.commission is not None else None,
                   "amount": money(x.amount)} for x in s.lines]},
        lambda: [click.echo(f"{s.distributor_id}: owed {money(s.opening)} on {first}")]
        + [click.echo(f"  {local_text(x.at, local)} {x.kind:<10} {x.reference:<40} {money(x.amount):>14}")
           for x in s.lines]
        + [click.echo(f"  owed {money(s.closing)} at the end of {last}; sold {s.sold_count} cards "
                      f"({money(s.sold_face)}), commission {money(s.commission)}")], data_as_of)


@report.command("daily-close")
@click.option("--date", "date_text", default=None, help="The local business day (default: yesterday).")
@click.option("--no-checkpoint", is_flag=True,
              help="Do not sign a checkpoint of the audit chain's head (no VOUCHER_KEY_PASSPHRASE needed).")
@currency_option
@csv_option
@pdf_option
@excel_option
@allow_stale_option
@json_option
def daily_close_cmd(date_text: str | None, no_checkpoint: bool, currency: str | None, csv_out: Path | None,
                    pdf_out: Path | None, excel: bool, allow_stale: bool, as_json: bool) -> None:
    """日结: money in, settlements and fees per channel; the voucher liability roll-forward checked against
    the books; the audit chain's head at the day's end, signed as a checkpoint. Exit 1 if the day does not
    balance (the differences are printed)."""
    from vouchers.services import list_documents as documents
    from vouchers.services.daily_close import daily_close

    day = parse_date(date_text, "--date") if date_text else today() - dt.timedelta(days=1)
    cur = _currency(currency)
    tz = context.settings().timezone
    with output_files(csv_out, pdf_out) as (csv_file, pdf_file):
        with context.report_session(allow_stale) as (session, data_as_of):
            r = daily_close(session, day, tz=tz, currency=cur, now=context.now())
        checkpoint = None
        if not no_checkpoint:
            from voucherctl.audit_cmd import sign_and_keep

            checkpoint, _ = sign_and_keep(r.audit_head)
        rf = r.liability
        _write_csv(csv_file, finance_reports.DAILY_CLOSE_HEADER, finance_reports.daily_close_rows(r, checkpoint),
                   excel)
        if pdf_file:
            finance_reports.render_daily_close_pdf(pdf_file, r, checkpoint=checkpoint, data_note=pdf_note(data_as_of))
    document = documents.daily_close(r, checkpoint)

    def human() -> None:
        click.echo(f"daily close {day} ({tz}), {cur}: " + ("balanced" if r.balanced else "DOES NOT BALANCE"))
        for c in r.channels:
            click.echo(f"  {c.channel:<22} {c.count:>7} in {money(c.money_in):>14}  settled {money(c.settled):>14}  "
                       f"fees {money(c.fees):>10}")
        click.echo(f"  liability: opening {money(rf.opening.amount)} + activated {money(rf.activated.amount)} - "
                   f"redeemed {money(rf.redeemed.amount)} - expired {money(rf.expired.amount)} - voided "
                   f"{money(rf.voided.amount)} = closing {money(rf.closing.amount)}; books {money(rf.ledger_closing)}")
        click.echo(f"  audit head: event {r.audit_head.event_id} of {r.audit_head.events}, hash {r.audit_head.hash}")
        if checkpoint is not None:
            click.echo(f"  checkpoint signed at {checkpoint['at']}: {checkpoint['signature']}")

    emit_report(as_json, document, human, data_as_of)
    if not r.balanced:
        raise CliError(f"{day} does not balance: " + "; ".join(f"{d.check} off by {money(d.amount)} ({d.detail})"
                                                             for d in r.differences))
