"""``POST /api/v1/payments``: a channel client posts a payment for its own channel only.

HTTP only: parsing, the role and idempotency, error mapping and the
response. The money itself (late fee, books, cost control, a keypad meter's
token, the SMS) is :func:`vouchers.services.money_in.pay`, the flow every
channel runs.
"""
from __future__ import annotations

import datetime as dt
import re

from flask import Blueprint, request

from vouchers.books.csvformat import EARLIEST_PAID_AT
from vouchers.books.errors import CurrencyMismatch, InvalidPayment, PaymentConflict, UnknownChannel
from vouchers.books.errors import UnknownAccount as LedgerUnknownAccount
from vouchers.books.payments import PaymentResult, validate_amount, validate_ref
from redeem_api.errors import ApiError, Conflict, Forbidden, UnknownAccount, ValidationFailed, token_refused
from redeem_api.http import (
    account_no_field,
    current_client,
    json_response,
    now,
    parse_idempotency_key,
    read_json_object,
    require_roles,
    run_idempotent,
    text_field,
)
from redeem_api.state import state
from vouchers.vending.errors import VendingError
from vouchers.errors import InvalidMoney
from vouchers.money import format_amount, parse_positive_amount
from vouchers.services import money_in
from vouchers.services.money_in import ChannelPayment, MoneyIn

bp = Blueprint("payments", __name__, url_prefix="/api/v1")
MAX_FUTURE = dt.timedelta(minutes=5)
_CURRENCY = re.compile(r"[A-Z]{3}")
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


def _currency(body: dict) -> str | None:
    """``currency`` from the body: an ISO 4217 code (three capital letters), or None when not sent.
    Another currency than the account's is refused by the money-in service (422 ``currency_mismatch``)."""
    raw = body.get("currency")
    if raw is None:
        return None
    if not isinstance(raw, str) or not _CURRENCY.fullmatch(raw):
        raise ValidationFailed('currency must be an ISO 4217 code in capitals, e.g. "CNY"')
    return raw


def payment_document(paid: MoneyIn[PaymentResult]) -> dict[str, object]:
    """The response body: formatting only. A keypad meter's token comes as ``sts`` (and ``balance`` is the
    prepaid balance after its energy sale); prepaid accounts with a tariff gain the kWh fields."""
    result = paid.booking
    document: dict[str, object] = {
        "payment_id": str(result.payment_id),
        "channel": result.channel,
        "external_ref": result.external_ref,
        "account_no": result.account_no,
        "amount": format_amount(result.amount),
        "currency": result.currency,
        "applied_to_arrears": format_amount(result.applied_to_arrears),
        "credited_to_balance": format_amount(result.credited_to_balance),
        "balance": format_amount(paid.balance),
        "paid_at": result.paid_at.astimezone(dt.timezone.utc).isoformat(),
        "created": result.created,
    }
    if paid.vend is not None:
        document["sts"] = paid.vend.sts_object()
    document.update(paid.kwh)
    return document


@bp.post("/payments")
@require_roles("channel")
def create_payment():
    client = current_client()
    body = read_json_object()
    key = parse_idempotency_key(request.headers.get("Idempotency-Key"))
    account_no = account_no_field(body)
    amount_text = body.get("amount")
    if not isinstance(amount_text, str):
        raise ValidationFailed('amount is required as a decimal string, e.g. "100.00"')
    if amount_text != amount_text.strip():  # a machine sends the figure exactly; padding hints at a broken client
        raise ApiError('amount must be digits only, without spaces, e.g. "100.00"', status=400,
                       code="invalid_amount")
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
    currency = _currency(body)
    channel = body.get("channel")
    if channel is not None and channel != client.channel:
        raise Forbidden("a channel client may only post payments for its own channel")
    at = now()
    paid_at = _paid_at(body, at)

    def handler(session):
        payment = ChannelPayment(client.channel, account_no, amount, external_ref, paid_at, currency)
        try:
            paid = money_in.pay(session, payment, now=at, deps=state().services, actor=client.actor)
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
        except VendingError as e:
            raise token_refused(e) from e
        result = paid.booking
        return (201 if result.created else 200), payment_document(paid)

    status, text, replayed = run_idempotent(scope=f"client:{client.pk}", client_pk=client.pk, key=key, body=body,
                                            route="POST /api/v1/payments", handler=handler)
    return json_response(status, text, {"Idempotent-Replayed": "true"} if replayed else None)
