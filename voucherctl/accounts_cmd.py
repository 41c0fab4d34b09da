"""``voucherctl accounts``: customer electricity accounts (户号)."""
from __future__ import annotations

import click

from vouchers.books import customers
from vouchers.books.customers import AccountSummary
from voucherctl import context
from voucherctl.ledger_cmd import money, parse_date, parse_money, today
from voucherctl.output import NAME, emit, json_option


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
@click.option("--district", default=None, help="District of the address (shown masked to confirm the holder).")
@click.option("--arrears", default=None, help="Opening arrears, e.g. 12.34 (one bill).")
@click.option("--due", default=None, help="Due date of the opening arrears (default: today).")
@click.option("--currency", default=None, help="ISO 4217 (default VOUCHER_CURRENCY or CNY).")
@json_option
def create(account_no: str, name: str, meter_no: str | None, district: str | None, arrears: str | None, due: str | None,
           currency: str | None, as_json: bool) -> None:
    """Open a customer account, optionally with opening arrears."""
    arrears_minor = parse_money(arrears, "--arrears") if arrears is not None else 0
    due_date = parse_date(due, "--due") if due else today()
    with context.sessions().begin() as session:
        summary = customers.create_customer(
            session, account_no.strip(), name, meter_no=meter_no, district=district, currency=(currency or context.settings().currency).upper(),
            arrears=arrears_minor, arrears_due=due_date, now=context.now())
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
