"""``POST /api/v1/payments``: a channel client posts a payment for its own channel only.

Around the booking (:mod:`vouchers.metering.money_in`, one indexed query when nothing
is pending): the late fee of overdue electricity bills up to the payment day
is posted first, so the arrears-first rule pays it with this money, and a
prepaid account's open cost-control state is evaluated after (a reconnect
order in the same commit).
"""
from __future__ import annotations

import datetime as dt
import json

from flask import Blueprint, request
from sqlalchemy import insert

from vouchers.books.csvformat import EARLIEST_PAID_AT
from vouchers.books.errors import CurrencyMismatch, InvalidPayment, PaymentConflict, UnknownChannel
from vouchers.books.errors import UnknownAccount as LedgerUnknownAccount
from vouchers.books.payments import post_payment, validate_amount, validate_ref
from vouchers.metering import money_in
from redeem_api import idempotency
from redeem_api.errors import ApiError, Conflict, Forbidden, UnknownAccount, ValidationFailed
from redeem_api.http import (
    account_no_field,
    current_client,
    json_response,
    now,
    read_json_object,
    require_roles,
    run_idempotent,
    text_field,
)
from redeem_api.metering_support import kwh_document, support
from redeem_api.sts_support import add_sts
from vouchers.storage.api_models import OutboxMessage
from vouchers.errors import InvalidMoney
from vouchers.money import format_amount, parse_positive_amount

bp = Blueprint("payments", __name__, url_prefix="/api/v1")
MAX_FUTURE = dt.timedelta(minutes=5)
_PAID_AT_FORMAT = "paid_at must be an ISO 8601 time with an offset, e.g. 2026-11-26T10:00:00+08:00"


def _paid_at(body: dict, at: dt.datetime) -> dt.datetime:
    """``paid_at`` from the body (default ``at``): aware, from 2000-01-01 UTC to 5 minutes after ``at``."""
    raw = body.get("paid_at")
    if raw is None:
        return at
    if not isinstance(raw, str) or len(raw) > 40:
        raise ValidationFailed(_PAID_AT_FORMAT)
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError as e:
        raise ValidationFailed(_PAID_AT_FORMAT) from e
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationFailed("paid_at needs a UTC offset (e.g. +08:00)")
    # compared without converting: a time near year 1 with a large offset has no UTC form (OverflowError)
    if value < EARLIEST_PAID_AT:
        raise ValidationFailed("paid_at is before 2000-01-01T00:00:00Z")
    if value > at + MAX_FUTURE:
        raise ValidationFailed("paid_at is in the future")
    return value


@bp.post("/payments")
@require_roles("channel")
def create_payment():
    client = current_client()
    body = read_json_object()
    key = idempotency.parse_key(request.headers.get("Idempotency-Key"))
    account_no = account_no_field(body)
    amount_text = body.get("amount")
    if not isinstance(amount_text, str):
        raise ValidationFailed('amount is required as a decimal string, e.g. "100.00"')
    try:
        amount = parse_positive_amount(amount_text)
    except InvalidMoney as e:
        raise ApiError(str(e), status=400, code="invalid_amount") from e
    try:
        validate_amount(amount)  # the books' cap per payment, checked before anything is reserved
    except InvalidPayment as e:
        raise ValidationFailed(str(e)) from e
    external_ref = text_field(body, "external_ref", max_length=64)
    try:
        validate_ref(external_ref)
    except InvalidPayment as e:
        raise ValidationFailed(str(e)) from e
    channel = body.get("channel")
    if channel is not None and channel != client.channel:
        raise Forbidden("a channel client may only post payments for its own channel")
    at = now()
    paid_at = _paid_at(body, at)

    def handler(session):
        metering = support()
        pay_date = min(metering.config.local_date(paid_at), metering.config.local_date(at))
        gate = money_in.gate(session, account_no, pay_date=pay_date)
        if gate.late_fee:
            money_in.before_allocation(session, account_no, pay_date=pay_date, now=at, catalog=metering.catalog,
                                       config=metering.config)
        try:
            result = post_payment(session, client.channel, account_no, amount, external_ref, paid_at, at,
                                  actor=client.actor)
        except LedgerUnknownAccount as e:
            raise UnknownAccount(f"no electricity account {account_no}") from e
        except PaymentConflict as e:
            raise Conflict(str(e), code="payment_conflict") from e
        except CurrencyMismatch as e:
            raise ApiError(str(e), status=422, code="currency_mismatch") from e
        except UnknownChannel as e:  # pragma: no cover - checked when the client was created
            raise Forbidden(str(e)) from e
        except InvalidPayment as e:
            raise ValidationFailed(str(e)) from e
        if gate.watched and result.created:
            money_in.after_booking(session, result.account_no, now=at, catalog=metering.catalog,
                                   config=metering.config)
        document = {
            "payment_id": str(result.payment_id),
            "channel": result.channel,
            "external_ref": result.external_ref,
            "account_no": result.account_no,
            "amount": format_amount(result.amount),
            "currency": result.currency,
            "applied_to_arrears": format_amount(result.applied_to_arrears),
            "credited_to_balance": format_amount(result.credited_to_balance),
            "balance": format_amount(result.balance),
            "paid_at": result.paid_at.astimezone(dt.timezone.utc).isoformat(),
            "created": result.created,
        }
        # An STS keypad meter: the money credited becomes a token (a replay returns the same token).
        # (adds "sts"; "balance" becomes the prepaid balance after the energy sale the vend booked)
        sts = add_sts(document, session, result.account_no, credited_minor=result.credited_to_balance,
                      balance_minor=result.balance, now=at, source="payment", source_ref=str(result.payment_id),
                      actor=client.actor)
        if sts is not None:
            if result.created and sts.get("token"):
                session.execute(insert(OutboxMessage.__table__), {
                    "kind": "sms.sts_token", "account_no": result.account_no, "created_at": at, "attempts": 0,
                    "payload": json.dumps({"template": "sts_token", "payment_id": document["payment_id"],
                                           "amount": document["amount"], "currency": document["currency"],
                                           "sts": sts}, ensure_ascii=False, sort_keys=True)})
        # A prepaid account with a tariff: what the money buys in kWh (new fields; none for other accounts).
        # The gate read the payment mode: no lookup of its own. A token: its kWh are what the money bought.
        document.update(kwh_document(session, result.account_no, now=at, credited_minor=result.credited_to_balance,
                                     prepaid=gate.prepaid, sts=sts))
        return (201 if result.created else 200), document

    status, text, replayed = run_idempotent(scope=f"client:{client.pk}", client_pk=client.pk, key=key, body=body,
                                            route="POST /api/v1/payments", handler=handler)
    return json_response(status, text, {"Idempotent-Replayed": "true"} if replayed else None)
