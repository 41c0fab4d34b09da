"""``voucherctl accounts``: customer electricity accounts (户号)."""
from __future__ import annotations

from pathlib import Path

import click

from vouchers.books import customers
from vouchers.books.csvformat import text_cell
from vouchers.books.timeutil import zone
from vouchers.services import list_documents as documents
from vouchers.services import lists, statements
from vouchers.text import printable
from vouchers.books.customers import AccountSummary
from voucherctl import context
from voucherctl.ledger_cmd import money, parse_date, parse_money, today
from voucherctl.data_as_of import allow_stale_option, emit_report, pdf_note
from voucherctl.output import NAME, CliError, emit, excel_option, json_option, output_files


def summary_json(summary: AccountSummary) -> dict:
    return {
        "account_no": summary.account_no, "name": summary.name, "meter_no": summary.meter_no,
        "currency": summary.currency, "balance": money(summary.balance), "arrears": money(summary.arrears),
        "open_bills": [{"bill_ref": b.bill_ref, "amount": money(b.amount), "outstanding": money(b.outstanding),
                        "due_date": b.due_date.isoformat()} for b in summary.open_bills],
    }


def _human(summary: AccountSummary) -> str:
    lines = [f"{summary.account_no}  {summary.name}  meter {summary.meter_no or '-'}",
             f"  balance {money(summary.balance)} {summary.currency}, arrears {money(summary.arrears)}"]
    lines += [f"  bill {b.bill_ref}: {money(b.outstanding)} of {money(b.amount)} due {b.due_date}"
              for b in summary.open_bills]
    return "\n".join(lines)


@click.group()
def accounts() -> None:
    """Customer accounts: balance (prepaid) and arrears (open bills)."""


@accounts.command("create")
@click.option("--account-no", required=True, help="The account number (户号).")
@click.option("--name", required=True, type=NAME, help="Account holder.")
@click.option("--meter", "meter_no", default=None, help="Meter number.")
@click.option("--phone", default=None, help="The holder's phone number (customer service finds the account by it).")
@click.option("--district", default=None, help="District of the address (shown masked to confirm the holder).")
@click.option("--arrears", default=None, help="Opening arrears, e.g. 12.34 (one bill).")
@click.option("--due", default=None, help="Due date of the opening arrears (default: today).")
@click.option("--currency", default=None, help="ISO 4217 (default VOUCHER_CURRENCY or CNY).")
@json_option
def create(account_no: str, name: str, meter_no: str | None, phone: str | None, district: str | None,
           arrears: str | None, due: str | None,
           currency: str | None, as_json: bool) -> None:
    """Open a customer account, optionally with opening arrears."""
    arrears_minor = parse_money(arrears, "--arrears") if arrears is not None else 0
    due_date = parse_date(due, "--due") if due else today()
    with context.sessions().begin() as session:
        summary = customers.create_customer(
            session, account_no.strip(), name, meter_no=meter_no, district=district,
            currency=(currency or context.settings().currency).upper(),
            arrears=arrears_minor, arrears_due=due_date, now=context.now(), phone=phone)
    emit(as_json, summary_json(summary), _human(summary))


@accounts.command("show")
@click.argument("account_no")
@json_option
def show(account_no: str, as_json: bool) -> None:
    """Balance, arrears and open bills of one account."""
    with context.sessions().begin() as session:
        summary = customers.customer_summary(session, account_no)
    emit(as_json, summary_json(summary), _human(summary))


@accounts.command("bill")
@click.argument("account_no")
@click.option("--amount", required=True, help="Billed amount, e.g. 86.40.")
@click.option("--ref", "bill_ref", required=True, help="Bill reference, e.g. 2026-11 (unique per account).")
@click.option("--due", required=True, help="Due date YYYY-MM-DD.")
@json_option
def bill(account_no: str, amount: str, bill_ref: str, due: str, as_json: bool) -> None:
    """Bill electricity; prepaid balance pays it at once where it can."""
    amount_minor = parse_money(amount, "--amount", positive=True)
    with context.sessions().begin() as session:
        result = customers.issue_bill(session, account_no, amount_minor, due_date=parse_date(due, "--due"),
                                      bill_ref=bill_ref, now=context.now())
        summary = customers.customer_summary(session, account_no)
    document = {"bill_id": result.bill_id, "transaction_id": result.transaction_id, "created": result.created,
                "applied_from_prepaid": money(result.applied_from_prepaid), "account": summary_json(summary)}
    emit(as_json, document, _human(summary))


@accounts.command("search")
@click.argument("text", required=False)
@click.option("--account-no", default=None, help="Account number (户号), or its beginning.")
@click.option("--name", default=None, help="Part of the holder's name (case-insensitive).")
@click.option("--meter", "meter_no", default=None, help="Meter number (exact).")
@click.option("--phone", default=None, help="The holder's phone number (whole).")
@click.option("--limit", default=lists.DEFAULT_LIMIT, show_default=True, type=click.IntRange(1, lists.MAX_LIMIT))
@click.option("--offset", default=0, show_default=True, type=click.IntRange(0, 10_000_000))
@allow_stale_option
@json_option
def search(text: str | None, account_no: str | None, name: str | None, meter_no: str | None, phone: str | None,
           limit: int, offset: int, allow_stale: bool, as_json: bool) -> None:
    """Find accounts: TEXT matches number, name, meter or phone; the options narrow (all must match)."""
    query = lists.AccountQuery(text, account_no, name, meter_no, phone)
    tz = context.settings().timezone
    with context.report_session(allow_stale) as (session, data_as_of):
        page = lists.search_accounts(session, query, limit=limit, offset=offset)
    document = documents.account_page(page, tz)

    def human() -> None:
        for h in page.items:
            click.echo(f"{h.account_no:<14} {printable(h.name):<20} meter {h.meter_no or '-':<14} "
                       f"phone {h.phone_masked or '-':<14} balance {money(h.balance):>12} arrears {money(h.arrears):>12}")
        shown = f"{offset + 1}-{offset + len(page.items)}" if page.items else "none"
        click.echo(f"{page.total} account(s) match; showing {shown}")

    emit_report(as_json, document, human, data_as_of)


@accounts.command("statement")
@click.argument("account_no")
@click.option("--from", "date_from", default=None, help="First local day (default: the 1st of --to's month).")
@click.option("--to", "date_to", default=None, help="Last local day, inclusive (default: today).")
@click.option("--csv", "csv_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the lines to this CSV file.")
@click.option("--pdf", "pdf_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also render the statement as a PDF.")
@excel_option
@allow_stale_option
@json_option
def statement(account_no: str, date_from: str | None, date_to: str | None, csv_out: Path | None,
              pdf_out: Path | None, excel: bool, allow_stale: bool, as_json: bool) -> None:
    """Opening balance, every bill, payment, redemption, late fee and energy sale, closing balance."""
    from voucherctl.report_cmd import _write_csv

    last = parse_date(date_to, "--to") if date_to else today()
    first = parse_date(date_from, "--from") if date_from else last.replace(day=1)
    tz = context.settings().timezone
    with output_files(csv_out, pdf_out) as (csv_file, pdf_file):
        with context.report_session(allow_stale) as (session, data_as_of):
            s = statements.account_statement(session, account_no, first=first, last=last, tz=tz)
        _write_csv(csv_file, ["at", "kind", "reference", "channel", "transaction_id", "arrears", "balance", "amount"],
                   [["", "opening", "", "", "", money(s.opening_arrears), money(s.opening_prepaid), money(s.opening)]]
                   + [[documents.local_iso(x.at, tz), x.kind, text_cell(x.reference), x.channel or "",
                       x.transaction_id, money(x.arrears), money(x.prepaid), money(x.amount)] for x in s.lines]
                   + [["", "closing", "", "", "", money(s.closing_arrears), money(s.closing_prepaid),
                       money(s.closing)]], excel)
        if pdf_file:
            from print_templates.statements import render_account_statement

            render_account_statement(pdf_file, s, tz=tz, data_note=pdf_note(data_as_of))
    document = documents.account_statement(s, tz)

    def human() -> None:
        click.echo(f"{s.account_no} {printable(s.name)}: {first} .. {last} ({tz}), {s.currency}")
        click.echo(f"  opening   balance {money(s.opening_prepaid):>12}  arrears {money(s.opening_arrears):>12}")
        for x in s.lines:
            click.echo(f"  {x.at.astimezone(zone(tz)):%Y-%m-%d %H:%M} {x.kind:<16} {printable(x.reference)[:32]:<32} "
                       f"{money(x.amount):>12}")
        click.echo(f"  closing   balance {money(s.closing_prepaid):>12}  arrears {money(s.closing_arrears):>12}"
                   + ("" if s.closes else f"  DOES NOT CLOSE (lines give {money(s.computed_closing)})"))

    emit_report(as_json, document, human, data_as_of)
    if not s.closes:
        raise CliError(f"the statement does not close: opening + movements = {money(s.computed_closing)}, "
                       f"the ledger says {money(s.closing)}")
