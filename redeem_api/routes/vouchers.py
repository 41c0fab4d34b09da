"""Distributor stock over HTTP: ``GET /api/v1/vouchers/<serial>`` and ``POST /api/v1/activations``.

A distributor sees only its own stock - the cards consigned (shipped) to it
or that it activated; anything else is "not found", so serials of other
sellers reveal nothing - and activates only its own consigned stock, for
itself. An admin sees everything and activates for a named distributor (as
an operator's ``voucherctl batch activate`` does). The code is never part of
any answer.
"""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, request
from sqlalchemy import select

from vouchers.books.errors import ActivationError, BatchNotFound, InvalidDistributor
from vouchers.books.voucher_books import activate
from redeem_api.errors import ApiError, Conflict, Forbidden, NotFound, ValidationFailed, VoucherNotFound
from redeem_api.http import (
    current_client,
    json_response,
    now,
    parse_idempotency_key,
    read_json_object,
    require_roles,
    run_idempotent,
    text_field,
    today,
)
from redeem_api.state import db
from vouchers.storage.models import Batch, Voucher
from vouchers.errors import InvalidSerial
from vouchers.money import format_amount
from vouchers.serials import Serial, parse_batch_id

bp = Blueprint("vouchers", __name__, url_prefix="/api/v1")


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.timezone.utc).isoformat() if value is not None else None


def _serial(text: str, name: str) -> str:
    compact = text.replace(" ", "").replace("-", "") if isinstance(text, str) else ""
    try:
        Serial.parse(compact)
    except InvalidSerial as e:
        raise ApiError(f"{name} is not a valid serial (16 digits with check digit)", status=400,
                       code="invalid_serial") from e
    return compact


@bp.get("/vouchers/<serial>")
@require_roles("distributor", "admin")
def get_voucher(serial: str):
    client = current_client()
    serial = _serial(serial, "serial")
    session = db()
    with session.begin():
        row = session.execute(
            select(Voucher.serial, Voucher.status, Voucher.face_value, Voucher.currency, Voucher.expires,
                   Voucher.distributor_id, Voucher.consigned_to, Voucher.activated_at, Voucher.redeemed_at,
                   Batch.batch_id)
            .join(Batch, Batch.id == Voucher.batch_pk).where(Voucher.serial == serial)
        ).one_or_none()
    if row is None or (client.role == "distributor"
                       and client.distributor_id not in (row.distributor_id, row.consigned_to)):
        raise VoucherNotFound("no voucher with that serial in your stock")
    status = row.status
    return json_response(200, {
        "serial": row.serial,
        "batch_id": row.batch_id,
        "status": status,
        "redeemable": status == "active" and row.expires >= today(),
        "face_value": format_amount(row.face_value),
        "currency": row.currency,
        "expires": row.expires.isoformat(),
        "distributor_id": row.distributor_id,
        "consigned_to": row.consigned_to,
        "activated_at": _iso(row.activated_at),
        "redeemed_at": _iso(row.redeemed_at),
    })


@bp.post("/activations")
@require_roles("distributor", "admin")
def create_activation():
    client = current_client()
    body = read_json_object()
    key = parse_idempotency_key(request.headers.get("Idempotency-Key"))
    batch_id = text_field(body, "batch_id", max_length=20)
    assert batch_id is not None
    try:
        parse_batch_id(batch_id)
    except InvalidSerial as e:
        raise ValidationFailed("batch_id must look like B01-000042") from e
    from_text = text_field(body, "from_serial", max_length=40, required=False)
    to_text = text_field(body, "to_serial", max_length=40, required=False)
    if (from_text is None) != (to_text is None):
        raise ValidationFailed("give both from_serial and to_serial (the same serial for one card), or neither")
    first = _serial(from_text, "from_serial") if from_text is not None else None
    last = _serial(to_text, "to_serial") if to_text is not None else None
    requested = body.get("distributor_id")
    if client.role == "distributor":
        if requested is not None and requested != client.distributor_id:
            raise Forbidden("a distributor may only activate stock for itself")
        distributor_id = client.distributor_id
    else:
        distributor_id = text_field(body, "distributor_id", max_length=64)
    at = now()

    def handler(session):
        try:
            result = activate(session, batch_id, distributor_id, first, last, now=at, actor=client.actor,
                              own_stock_only=client.role == "distributor")
        except BatchNotFound as e:
            raise NotFound(f"no batch {batch_id}", code="batch_not_found") from e
        except ActivationError as e:
            raise Conflict(str(e), code="activation_refused") from e
        except InvalidDistributor as e:
            raise ValidationFailed(str(e)) from e
        return 201, {
            "batch_id": result.batch_id,
            "distributor_id": result.distributor_id,
            "first_serial": result.first_serial,
            "last_serial": result.last_serial,
            "count": result.count,
            "face_value": format_amount(result.face_value),
            "currency": result.currency,
            "face_total": format_amount(result.face_total),
            "commission_total": format_amount(result.commission_total),
            "receivable": format_amount(result.receivable),
        }

    status, text, replayed = run_idempotent(scope=f"client:{client.pk}", client_pk=client.pk, key=key, body=body,
                                            route="POST /api/v1/activations", handler=handler)
    return json_response(status, text, {"Idempotent-Replayed": "true"} if replayed else None)
