"""``voucherctl payments``: channel payment files and single payments.

A single payment is money arriving like any other channel's
(:func:`vouchers.services.money_in.pay`: the late fee of overdue bills before
it is booked, an open cost-control state evaluated after, a token for a keypad
meter, the SMS), in one transaction. A file is booked first (all or nothing,
set-based), then its accounts with something pending are found in the same
transaction and settled after the commit, in batches (late fees through each
account's payment day, reconnect orders: :mod:`vouchers.metering.money_in`).
"""
from __future__ import annotations

from pathlib import Path

import click

from vouchers.books import formats
from vouchers.books import payments as payment_service
from vouchers.books.corrections import reverse_payment
from vouchers.books.errors import FileRejected
from vouchers.metering import money_in as metering_money_in
from vouchers.storage.ledger_models import Payment
from vouchers.errors import VoucherError
from vouchers.services import list_documents as documents
from vouchers.services import lists, money_in, reversals
from vouchers.staff import accounts
from vouchers.text import printable
from voucherctl import context
from voucherctl.staff_auth import fresh_code, prove_checker, session_of, totp_option
from voucherctl.billing_cmd import catalog, config
from voucherctl.ledger_cmd import money, parse_date, parse_money
from voucherctl.data_as_of import allow_stale_option, emit_report
from voucherctl.output import OPERATOR, CliError, emit, furthest, json_option, progress


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
@click.option("--format", "fmt", type=click.Choice(formats.FORMATS), default="generic", show_default=True,
              help="generic (docs/contract.md §6.3), or a channel's own bill: alipay (with --channel alipay only).")
@click.option("--operator", default="payments-import", show_default=True, type=OPERATOR)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option
def import_cmd(channel: str, fmt: str, operator: str, file: Path, as_json: bool) -> None:
    """Book a channel's payments file: all lines or none; bad lines are listed.

    A progress bar on a terminal counts the bytes of the file read."""
    settings = context.settings()
    metering = config()
    now = context.now()
    try:
        with progress(file.stat().st_size, f"reading {file.name}") as advance, \
                context.sessions().begin() as session:
            result = formats.import_payments(session, channel, file, fmt=fmt, now=now, actor=operator,
                                             tz=settings.timezone, on_read=furthest(advance))
            # who needs a late fee or a reconnection: read from the file's stage, before it goes at commit
            touched = metering_money_in.pending_in_import(session, result.transaction_ids,
                                                          today=metering.local_date(now), tz=metering.tz)
            # the fraud rules over the file's payments, in the import's transaction (None: rules off)
            screened = _screen(session, result.import_id, now) if result.booked else None
    except FileRejected as e:
        report_rejection(e, as_json)
        return
    follow_up, failure = metering_money_in.FollowUp(), None
    if touched:
        try:
            follow_up = metering_money_in.settle_accounts(context.sessions(), touched, now=now,
                                                          catalog=catalog(), config=metering)
        except (CliError, VoucherError) as e:  # booked all the same: the periodic runs catch up
            failure = str(e)
    document = {"import_id": result.import_id, "channel": result.channel, "file": result.file_name,
                "sha256": result.sha256, "lines": result.lines, "booked": result.booked,
                "duplicates": result.duplicates, "amounts": {c: money(a) for c, a in sorted(result.amounts.items())},
                "transaction_ids": list(result.transaction_ids), "skipped": [e.as_dict() for e in result.skipped],
                "metering": follow_up.as_dict(),
                "fraud": {"hits": dict(sorted(screened.hits.items())), "recorded": screened.recorded}
                if screened is not None else {"hits": {}, "recorded": 0}}
    emit(as_json, document,
         f"{result.file_name}: {result.booked} payments booked, {result.duplicates} already booked"
         + "".join(f", {money(a)} {c}" for c, a in sorted(result.amounts.items()))
         + (f"; {len(result.skipped)} lines skipped (refunds)" if result.skipped else "")
         + (f"; late fees {money(follow_up.late_fee_fen)} on {follow_up.late_fee_accounts} accounts"
            if follow_up.late_fee_accounts else "")
         + (f"; {follow_up.reconnects} reconnect orders" if follow_up.reconnects else "")
         + (f"; fraud alerts: {', '.join(f'{r} {n}' for r, n in sorted(screened.hits.items()))}"
            if screened is not None and screened.hits else ""))
    if failure is not None:
        raise CliError(f"the payments are booked, but late fees / cost control of their accounts failed ({failure}); "
                       "the month-end late-fee run and `voucherctl cost-control run` will catch up")


def _screen(session, import_id: int, now):  # type: ignore[no-untyped-def]
    """:func:`vouchers.services.fraud_scan.screen_import` with the installation's rules; None when they are off."""
    from vouchers.services.fraud_scan import screen_import

    cfg = context.fraud_config()
    if not cfg.enabled:
        return None
    return screen_import(session, import_id, cfg=cfg, tz=context.settings().tz, now=now)


@payments.command("post")
@click.option("--channel", required=True)
@click.option("--account-no", required=True)
@click.option("--amount", required=True, help="e.g. 50.00")
@click.option("--ref", "external_ref", required=True, help="The channel's own reference (idempotency key).")
@click.option("--paid-at", default=None, help="ISO 8601 time of payment (default: now).")
@click.option("--currency", default=None,
              help="ISO 4217 code of the money (default: the account's); another than the account's is refused.")
@json_option
def post(channel: str, account_no: str, amount: str, external_ref: str, paid_at: str | None, currency: str | None,
         as_json: bool) -> None:
    """Book one payment (a counter or a channel without files).

    The same flow as the API's payments: the late fee first, cost control after, and
    onto an account with an STS keypad meter, a token for the money credited (printed)."""
    amount_minor = parse_money(amount, "--amount", positive=True)
    now = context.now()
    when = now
    if paid_at:
        from vouchers.books.csvformat import LineProblem, parse_timestamp

        try:
            when = parse_timestamp(paid_at, context.settings().timezone)
        except LineProblem as e:
            raise CliError(f"--paid-at: {e}") from e
    deps = context.services()
    with context.sessions().begin() as session:
        paid = money_in.pay(session, money_in.ChannelPayment(channel, account_no, amount_minor, external_ref, when,
                                                             currency),
                            now=now, deps=deps)
    r = paid.booking
    document = {"payment_id": r.payment_id, "channel": r.channel, "external_ref": r.external_ref,
                "account_no": r.account_no, "amount": money(r.amount), "currency": r.currency,
                "applied_to_arrears": money(r.applied_to_arrears), "credited_to_balance": money(r.credited_to_balance),
                "balance": money(paid.balance), "paid_at": context.when_iso(r.paid_at), "replayed": not r.created}
    if paid.vend is not None:  # a keypad meter: its token (the balance is after the energy sale)
        document["sts"] = paid.vend.sts_object()

    def human() -> None:
        click.echo(f"payment {r.payment_id}: {money(r.amount)} {r.currency} to {r.account_no} "
                   f"(arrears {money(r.applied_to_arrears)}, balance now {money(paid.balance)})"
                   + (" [already booked]" if not r.created else ""))
        sts = document.get("sts")
        if isinstance(sts, dict) and sts.get("token"):
            click.echo(f"STS token for meter {sts['meter']}: {sts['token']} ({sts['kwh']} kWh, TID {sts['tid']})")

    emit(as_json, document, human)


@payments.command("reverse")
@click.argument("payment_id", type=int, required=False)
@click.option("--channel", default=None, help="With --ref: the payment by its channel reference instead of its id.")
@click.option("--ref", "external_ref", default=None, help="The channel's reference of the payment (with --channel).")
@click.option("--reason", default=None, help="Why (required to reverse, to propose and to reject).")
@click.option("--operator", required=True,
              help="Once staff exist: the logged-in finance user (proposes) or approver (--confirm/--reject).")
@click.option("--confirm", "confirm_id", type=int, default=None, metavar="REQUEST",
              help="Once staff exist: confirm reversal request REQUEST (a different approver, with --totp).")
@click.option("--reject", "reject_id", type=int, default=None, metavar="REQUEST",
              help="Once staff exist: reject reversal request REQUEST (a different approver, with --reason, --totp).")
@totp_option
@json_option
def reverse(payment_id: int | None, channel: str | None, external_ref: str | None, reason: str | None,
            operator: str, confirm_id: int | None, reject_id: int | None, totp_code: str | None,
            as_json: bool) -> None:
    """Reverse one booked, unsettled payment - posted alone or a line of an imported file - once.

    Its legs are mirrored (kind payment_reversal) and the bills it paid reopen. Once staff accounts
    exist it takes two people: a finance user proposes it (PAYMENT_ID or --channel/--ref, --reason),
    a different approver confirms it (--confirm REQUEST --totp CODE) or rejects it (--reject REQUEST).
    """
    deciding = confirm_id is not None or reject_id is not None
    by_ref = channel is not None or external_ref is not None
    if deciding:
        if confirm_id is not None and reject_id is not None or payment_id is not None or by_ref:
            raise CliError("--confirm or --reject take a request number alone")
    elif (payment_id is not None) == by_ref or (by_ref and (channel is None or external_ref is None)):
        raise CliError("give PAYMENT_ID, or --channel and --ref (not both)")
    if (reject_id is not None or not deciding) and not (reason or "").strip():
        raise CliError("--reason is required")
    with context.sessions().begin() as session:
        if accounts.any_staff(session):
            _two_person_reversal(session, payment_id, channel, external_ref, reason, operator, confirm_id, reject_id,
                                 totp_code, as_json)
            return
        if deciding:
            raise CliError("--confirm and --reject apply once staff accounts exist (reversal requests)")
        payment_id = _payment_id(session, payment_id, channel, external_ref)
        operator = prove_checker(session, operator, action="payment_reverse", subject_type="payment",
                                 subject_id=str(payment_id), totp_code=totp_code)
        posted = reverse_payment(session, payment_id, now=context.now(), actor=operator, reason=reason)
        p = payment_service.result_of(session, session.get(Payment, payment_id), created=False)
    document = {"payment_id": p.payment_id, "reversal_id": posted.transaction_id, "channel": p.channel,
                "external_ref": p.external_ref, "account_no": p.account_no, "amount": money(p.amount),
                "currency": p.currency, "status": "reversed"}
    emit(as_json, document, f"payment {p.payment_id} ({p.channel} {p.external_ref}, {money(p.amount)} {p.currency} "
                            f"to {p.account_no}) reversed by transaction {posted.transaction_id}")


def _payment_id(session, payment_id: int | None, channel: str | None, external_ref: str | None) -> int:
    if payment_id is not None:
        return payment_id
    found = payment_service.get_payment(session, channel, external_ref)
    if found is None:
        raise CliError(f"no payment {external_ref} on channel {channel}")
    return found.id


def _two_person_reversal(session, payment_id, channel, external_ref, reason, operator, confirm_id, reject_id,
                         totp_code, as_json) -> None:
    """The same requests as the console's (:mod:`vouchers.services.reversals`)."""
    who = session_of(session, operator)
    if confirm_id is not None:
        r = reversals.confirm(session, who, confirm_id, totp_code=fresh_code(who, totp_code),
                              seal_key=context.totp_seal_key(), now=context.now())
        p = r.payment
        text = (f"payment {p.payment_id} ({p.channel} {p.external_ref}, {money(p.amount)} {p.currency} to "
                f"{p.account_no}) reversed by transaction {r.reversal_id}: proposed by {r.requested_by}, "
                f"confirmed by {r.decided_by}")
    elif reject_id is not None:
        r = reversals.reject(session, who, reject_id, reason=reason, totp_code=fresh_code(who, totp_code),
                             seal_key=context.totp_seal_key(), now=context.now())
        text = f"reversal request {r.request_id} of payment {r.payment.payment_id} rejected by {r.decided_by}"
    else:
        r = reversals.propose(session, who, _payment_id(session, payment_id, channel, external_ref), reason=reason,
                              now=context.now())
        p = r.payment
        text = (f"reversal request {r.request_id} of payment {p.payment_id} ({money(p.amount)} {p.currency}) "
                f"proposed by {r.requested_by}; a different approver confirms it: voucherctl payments reverse "
                f"--confirm {r.request_id} --operator APPROVER --totp CODE")
    emit(as_json, r.as_json(), text)


@payments.command("list")
@click.option("--channel", default=None, help="Only this channel (voucher: redemptions).")
@click.option("--from", "date_from", default=None, help="First local day (paid_at), inclusive.")
@click.option("--to", "date_to", default=None, help="Last local day (paid_at), inclusive.")
@click.option("--ref", "external_ref", default=None, help="The channel's reference (exact).")
@click.option("--account", "account_no", default=None, help="Only this account number.")
@click.option("--limit", default=lists.DEFAULT_LIMIT, show_default=True, type=click.IntRange(1, lists.MAX_LIMIT))
@click.option("--offset", default=0, show_default=True, type=click.IntRange(0, 10_000_000))
@allow_stale_option
@json_option
def list_cmd(channel: str | None, date_from: str | None, date_to: str | None, external_ref: str | None,
             account_no: str | None, limit: int, offset: int, allow_stale: bool, as_json: bool) -> None:
    """Payments and redemptions, newest first (imported ones too, with their ids)."""
    filters = lists.PaymentFilter(channel, parse_date(date_from, "--from") if date_from else None,
                                  parse_date(date_to, "--to") if date_to else None, external_ref, account_no)
    tz = context.settings().timezone
    with context.report_session(allow_stale) as (session, data_as_of):
        page = lists.list_payments(session, filters, tz=tz, limit=limit, offset=offset)

    def human() -> None:
        for p in page.items:
            click.echo(f"{p.payment_id:>8} {documents.local_iso(p.paid_at, tz)} {p.channel:<14} "
                       f"{printable(p.external_ref):<24} {p.account_no:<14} {money(p.amount):>12} {p.currency} "
                       f"{p.status}")
        click.echo(f"{page.total} payment(s) match; showing {len(page.items)} from {offset + 1 if page.items else 0}")

    emit_report(as_json, documents.payment_page(page, tz), human, data_as_of)
