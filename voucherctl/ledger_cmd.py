"""``voucherctl ledger``: verify the books; corrections; distributor commission and remittances.

Also the small helpers the books' other commands share (dates, amounts, the business day).
"""
from __future__ import annotations

import datetime as dt

import click

from vouchers.books import distributors
from vouchers.books.corrections import reverse_transaction
from vouchers.books.verify import verify as verify_books
from voucherctl import context
from voucherctl.staff_auth import prove_checker, totp_option
from voucherctl.output import NAME, OPERATOR, REASON, CliError, emit, json_option
from vouchers.errors import InvalidMoney
from vouchers.money import format_amount, parse_amount, parse_positive_amount


def parse_date(text: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except (TypeError, ValueError) as e:
        raise CliError(f"{option} must be a date like 2026-11-30, got {text!r}") from e


def parse_money(text: str, option: str, *, positive: bool = False) -> int:
    try:
        return parse_positive_amount(text) if positive else parse_amount(text)
    except InvalidMoney as e:
        raise CliError(f"{option}: {e}") from e


def today() -> dt.date:
    return context.settings().local_date(context.now())


def money(minor: int) -> str:
    return format_amount(int(minor))


@click.group()
def ledger() -> None:
    """The double-entry books."""


@ledger.command("verify")
@json_option
def verify(as_json: bool) -> None:
    """Recompute every balance from postings, check zero-sum and the voucher liability."""
    with context.sessions().begin() as session:
        report = verify_books(session, today=today())
    document = {
        "ok": report.ok, "accounts": report.accounts, "transactions": report.transactions,
        "postings": report.postings, "problems": [p.as_dict() for p in report.problems],
        "warnings": report.warnings,
        "voucher_liability": {c: {"ledger": money(v["ledger"]), "active_face_value": money(v["active_face_value"]),
                                  "active_count": v["active_count"]} for c, v in report.liability.items()},
    }

    def human() -> None:
        click.echo(f"{report.accounts} accounts, {report.transactions} transactions, {report.postings} postings")
        for p in report.problems:
            click.echo(f"PROBLEM {p.check}: {p.subject}: {p.message}")
        for w in report.warnings:
            click.echo(f"warning: {w}")
        if report.ok:
            click.echo("books verified: every balance, zero-sum and the voucher liability check out")

    emit(as_json, document, human)
    if not report.ok:
        raise CliError(f"ledger verify found {len(report.problems)} problem(s)")


@ledger.command("reverse")
@click.argument("transaction_id", type=int)
@click.option("--reason", required=True, type=REASON)
@click.option("--operator", required=True, type=OPERATOR, help="Once staff exist: the logged-in approver (with --totp).")
@totp_option
@json_option
def reverse(transaction_id: int, reason: str, operator: str, totp_code: str | None, as_json: bool) -> None:
    """Reverse a payment, bill, prepaid application, remittance or energy sale (once) by its mirror image."""
    with context.sessions().begin() as session:
        operator = prove_checker(session, operator, action="ledger_reverse", subject_type="transaction",
                                 subject_id=str(transaction_id), totp_code=totp_code)
        posted = reverse_transaction(session, transaction_id, now=context.now(), actor=operator, reason=reason)
    emit(as_json, {"reversed": transaction_id, "reversal_id": posted.transaction_id},
         f"transaction {transaction_id} reversed by {posted.transaction_id}")


@ledger.command("commission")
@click.option("--distributor", "distributor_id", required=True)
@click.option("--rate", required=True, help="Percent of face value for future sales, e.g. 2.5%.")
@click.option("--name", default=None, type=NAME)
@click.option("--operator", required=True, type=OPERATOR)
@json_option
def commission(distributor_id: str, rate: str, name: str | None, operator: str, as_json: bool) -> None:
    """Set a distributor's commission rate (past sales keep theirs)."""
    bp = distributors.parse_rate(rate)
    with context.sessions().begin() as session:
        d = distributors.set_commission(session, distributor_id, bp, now=context.now(), actor=operator, name=name)
        document = {"distributor_id": d.distributor_id, "name": d.name, "commission_bp": d.commission_bp,
                    "commission": f"{d.commission_bp // 100}.{d.commission_bp % 100:02d}%"}
    emit(as_json, document, f"{distributor_id}: commission {document['commission']}")


@ledger.command("remit")
@click.option("--distributor", "distributor_id", required=True)
@click.option("--amount", required=True, help="e.g. 9700.00")
@click.option("--ref", "external_ref", required=True, help="Bank reference of the transfer (idempotency key).")
@click.option("--operator", required=True, type=OPERATOR)
@json_option
def remit(distributor_id: str, amount: str, external_ref: str, operator: str, as_json: bool) -> None:
    """Record a distributor paying for cards it sold: Dr bank, Cr distributor."""
    minor = parse_money(amount, "--amount", positive=True)
    with context.sessions().begin() as session:
        transaction_id = distributors.post_remittance(session, distributor_id, minor, external_ref,
                                                      now=context.now(), actor=operator)
    emit(as_json, {"distributor_id": distributor_id, "amount": money(minor), "transaction_id": transaction_id},
         f"remittance of {money(minor)} from {distributor_id} booked ({transaction_id})")
