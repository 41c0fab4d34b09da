"""``voucherctl payments``: channel payment files and single payments."""
from __future__ import annotations

from pathlib import Path

import click

from ledger import formats
from ledger import payments as payment_service
from ledger.errors import FileRejected
from voucherctl import context
from voucherctl.ledger_cmd import money, parse_money
from voucherctl.output import CliError, emit, json_option


def line_errors_json(error: FileRejected) -> dict:
    return {"error": {"code": error.code, "message": error.summary, "total_errors": error.total_errors,
                      "lines": [e.as_dict() for e in error.errors]}}


def report_rejection(error: FileRejected, as_json: bool) -> None:
    """Print the per-line report (stdout), then fail with one line on stderr."""
    if as_json:
        emit(True, line_errors_json(error))
    else:
        for e in error.errors:
            click.echo(f"line {e.line}: {e.message}", err=True)
        if error.total_errors > len(error.errors):
            click.echo(f"... and {error.total_errors - len(error.errors)} more", err=True)
    raise CliError(str(error)) from error


@click.group("payments")
def payments() -> None:
    """Payments from the channels (bank, Alipay, WeChat Pay, counters, kiosks...)."""


@payments.command("import")
@click.option("--channel", required=True, help="bank_debit, alipay, wechat_pay, pos_card, ...")
@click.option("--format", "fmt", type=click.Choice(formats.FORMATS), default="generic", show_default=True)
@click.option("--operator", default="payments-import", show_default=True)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option
def import_cmd(channel: str, fmt: str, operator: str, file: Path, as_json: bool) -> None:
    """Book a channel's payments file: all lines or none; bad lines are listed."""
    settings = context.settings()
    try:
        with context.sessions().begin() as session:
            result = formats.import_payments(session, channel, file, fmt=fmt, now=context.now(), actor=operator,
                                             tz=settings.timezone)
    except FileRejected as e:
        report_rejection(e, as_json)
        return
    document = {"import_id": result.import_id, "channel": result.channel, "file": result.file_name,
                "sha256": result.sha256, "lines": result.lines, "booked": result.booked,
                "duplicates": result.duplicates, "amounts": {c: money(a) for c, a in sorted(result.amounts.items())},
                "transaction_ids": list(result.transaction_ids), "skipped": [e.as_dict() for e in result.skipped]}
    emit(as_json, document,
         f"{result.file_name}: {result.booked} payments booked, {result.duplicates} already booked"
         + "".join(f", {money(a)} {c}" for c, a in sorted(result.amounts.items()))
         + (f"; {len(result.skipped)} lines skipped (refunds)" if result.skipped else ""))


@payments.command("post")
@click.option("--channel", required=True)
@click.option("--account-no", required=True)
@click.option("--amount", required=True, help="e.g. 50.00")
@click.option("--ref", "external_ref", required=True, help="The channel's own reference (idempotency key).")
@click.option("--paid-at", default=None, help="ISO 8601 time of payment (default: now).")
@json_option
def post(channel: str, account_no: str, amount: str, external_ref: str, paid_at: str | None, as_json: bool) -> None:
    """Book one payment (a counter or a channel without files)."""
    amount_minor = parse_money(amount, "--amount", positive=True)
    now = context.now()
    when = now
    if paid_at:
        from ledger.csvformat import LineProblem, parse_timestamp

        try:
            when = parse_timestamp(paid_at, context.settings().timezone)
        except LineProblem as e:
            raise CliError(f"--paid-at: {e}") from e
    with context.sessions().begin() as session:
        r = payment_service.post_payment(session, channel, account_no, amount_minor, external_ref, when, now)
    document = {"payment_id": r.payment_id, "channel": r.channel, "external_ref": r.external_ref,
                "account_no": r.account_no, "amount": money(r.amount), "currency": r.currency,
                "applied_to_arrears": money(r.applied_to_arrears), "credited_to_balance": money(r.credited_to_balance),
                "balance": money(r.balance), "paid_at": r.paid_at.isoformat(), "replayed": not r.created}
    emit(as_json, document, f"payment {r.payment_id}: {money(r.amount)} {r.currency} to {r.account_no} "
                            f"(arrears {money(r.applied_to_arrears)}, balance now {money(r.balance)})"
                            + (" [already booked]" if not r.created else ""))

