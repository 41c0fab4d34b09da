"""The metering head-end's routes (``headend`` role; ``admin`` too):

* ``POST /api/v1/readings``: a batch of meter readings, all or nothing
  (:func:`vouchers.metering.readings.record_readings`): the same reading again is a
  duplicate and changes nothing, a decreasing register is refused unless
  the reading is marked as a meter replacement, an unknown meter is refused;
* ``GET /api/v1/orders``: cost-control disconnect/reconnect orders in the
  order to execute them (id order), filtered by status, paged by id;
* ``POST /api/v1/orders/<order_id>/ack``: the head-end reports an order done
  or failed (:func:`vouchers.metering.cost_control.acknowledge_order`; the same
  answer twice is idempotent, another one is refused).

Like every ``POST`` under ``/api/v1``, the writes need an ``Idempotency-Key``.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any

from flask import Blueprint, request
from sqlalchemy.exc import IntegrityError

from vouchers.metering import cost_control
from vouchers.metering.errors import InvalidReading, OrderNotDue, OrderNotFound, OrderStateError, ReadingsRejected
from vouchers.metering.readings import ReadingInput, reading_input, record_readings
from redeem_api.errors import ApiError, Conflict, NotFound, ValidationFailed
from redeem_api.http import (
    current_client,
    json_response,
    now,
    parse_idempotency_key,
    read_json_object,
    require_roles,
    run_idempotent,
    valid_account_no,
)
from redeem_api.metering_support import support
from redeem_api.state import db

bp = Blueprint("headend", __name__, url_prefix="/api/v1")

ROLES = ("headend", "admin")
MAX_READINGS = 1000
MAX_LISTED = 100
ORDER_STATUSES = ("pending", "done", "failed", "cancelled", "all")
_METER = re.compile(r"[\x21-\x7e]{1,64}")
_MAX_ID = 2**63 - 1
_READING_FIELDS = ("account_no", "meter", "reading_date", "reading", "peak", "valley")
# The readings module's "no tariff assignment" is a 422 here (unknown_account is a 404 elsewhere).
_CODE_ALIASES = {"unknown_account": "account_not_metered"}


class ReadingsRefused(ApiError):
    """Readings refused, nothing recorded: ``error.code`` is the first refused reading's code and
    ``error.errors`` lists the refused readings by their ``index`` in the request (up to 100)."""

    storable = True

    def __init__(self, problems: list[dict[str, Any]], total: int, received: int, *, status: int,
                 code: str | None = None) -> None:
        first = problems[0]
        code = code or first["code"]
        super().__init__(f"{total} of {received} readings refused; nothing was recorded; first: reading "
                         f"{first['index']}: {first['message']}", status=status, code=code)
        self.problems = problems[:MAX_LISTED]
        self.total = total

    def body(self) -> dict[str, Any]:
        document = super().body()
        document["error"]["errors"] = self.problems
        document["error"]["total_errors"] = self.total
        return document


class OrderTooEarly(Conflict):
    """An acknowledgement before the order's ``not_before``: not stored, so the same key may report it again
    once the order is due."""

    code = "order_not_due"
    storable = False


class ConcurrentReadings(Conflict):
    """A concurrent request wrote the same (meter, day) first: not stored, so a retry with the key runs again."""

    code = "concurrent_readings"
    storable = False


def _problem(index: int, code: str, message: str) -> dict[str, Any]:
    return {"index": index, "code": _CODE_ALIASES.get(code, code), "message": message}


def _structure_problem(index: int, item: Any) -> str | None:
    """What is wrong with the shape of one reading object (None if nothing)."""
    if not isinstance(item, dict):
        return "each reading must be a JSON object"
    for name in ("account_no", "meter", "reading_date", "reading"):
        if item.get(name) is None:
            return f"{name} is required"
    for name in _READING_FIELDS:
        value = item.get(name)
        if value is not None and not isinstance(value, str):
            return (f"{name} must be a string" + (' (kWh as a decimal string, e.g. "12345.67", never a number)'
                                                  if name in ("reading", "peak", "valley") else ""))
    if not valid_account_no(item["account_no"]):
        return "account_no must be 1-32 ASCII letters, digits or dashes"
    if not _METER.fullmatch(item["meter"]):
        return "meter must be 1-64 visible ASCII characters"
    for name in ("reading_date", "reading", "peak", "valley"):
        value = item.get(name)
        if value is not None and len(value) > 32:
            return f"{name} is too long"
    replacement = item.get("replacement", False)
    if replacement is not None and not isinstance(replacement, bool):
        return "replacement must be true or false"
    return None


def _parse_readings(body: dict[str, Any]) -> list[ReadingInput]:
    items = body.get("readings")
    if not isinstance(items, list) or not items:
        raise ValidationFailed('readings is required: a non-empty list of {"account_no", "meter", '
                               '"reading_date", "reading"[, "peak", "valley"][, "replacement"]}')
    if len(items) > MAX_READINGS:
        raise ValidationFailed(f"at most {MAX_READINGS} readings per request")
    shape = [_problem(i, ValidationFailed.code, p) for i, item in enumerate(items)
             if (p := _structure_problem(i, item)) is not None]
    if shape:
        raise ReadingsRefused(shape, len(shape), len(items), status=400, code=ValidationFailed.code)
    parsed: list[ReadingInput] = []
    bad: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        try:
            value = reading_input(account_no=item["account_no"], meter=item["meter"],
                                  reading_date=item["reading_date"], reading=item["reading"],
                                  peak=item.get("peak"), valley=item.get("valley"),
                                  replacement=bool(item.get("replacement")))
        except InvalidReading as e:
            bad.append(_problem(i, e.code, str(e)))
            continue
        parsed.append(dataclasses.replace(value, line=i + 1))  # line = index + 1 in the recorder's errors
    if bad:
        raise ReadingsRefused(bad, len(bad), len(items), status=422)
    return parsed


@bp.post("/readings")
@require_roles(*ROLES)
def post_readings():
    client = current_client()
    body = read_json_object()
    key = parse_idempotency_key(request.headers.get("Idempotency-Key"))
    readings = _parse_readings(body)
    at = now()
    tz = support().config.tz

    def handler(session):
        try:
            result = record_readings(session, readings, now=at, source="head-end", tz=tz)
        except ReadingsRejected as e:
            problems = [_problem(err.line - 1, err.code, err.message) for err in e.errors]
            raise ReadingsRefused(problems, e.total_errors, e.lines, status=422) from e
        except IntegrityError as e:  # the same meter and day written by a concurrent request (savepoint undone)
            raise ConcurrentReadings("another request recorded readings of the same meter and day at the same "
                                     "moment: retry with the same Idempotency-Key",
                                     headers={"Retry-After": "1"}) from e
        document = {"received": result.lines, "recorded": result.inserted, "duplicates": result.duplicates}
        return (201 if result.inserted else 200), document

    status, text, replayed = run_idempotent(scope=f"client:{client.pk}", client_pk=client.pk, key=key, body=body,
                                            route="POST /api/v1/readings", handler=handler)
    return json_response(status, text, {"Idempotent-Replayed": "true"} if replayed else None)


def _int_arg(name: str, default: int, *, minimum: int, maximum: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19 or not minimum <= int(raw) <= maximum:
        raise ValidationFailed(f"{name} must be a whole number from {minimum} to {maximum}")
    return int(raw)


@bp.get("/orders")
@require_roles(*ROLES)
def list_orders():
    status = request.args.get("status") or "pending"
    if status not in ORDER_STATUSES:
        raise ValidationFailed(f"status must be one of {', '.join(ORDER_STATUSES)}")
    after_id = _int_arg("after_id", 0, minimum=0, maximum=_MAX_ID)
    limit = _int_arg("limit", 100, minimum=1, maximum=1000)
    account_no = request.args.get("account_no") or None
    if account_no is not None and not valid_account_no(account_no):
        raise ValidationFailed("account_no must be 1-32 ASCII letters, digits or dashes")
    session = db()
    with session.begin():
        orders = cost_control.list_orders(session, status=None if status == "all" else status, after_id=after_id,
                                          limit=limit, account_no=account_no)
    return json_response(200, {
        "orders": [_order_document(o) for o in orders],
        "next_after_id": orders[-1].order_id if len(orders) == limit else None,
    })


def _order_document(order: cost_control.OrderView) -> dict[str, Any]:
    document = order.as_dict()
    for name in ("not_before", "created_at", "acknowledged_at"):
        value = getattr(order, name)
        if value is not None:
            document[name] = value.astimezone(dt.timezone.utc).isoformat()
    return document


def _order_id(text: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 19 or not 1 <= int(text) <= _MAX_ID:
        raise NotFound(f"no cost-control order {text[:40]!r}", code="order_not_found")
    return int(text)


@bp.post("/orders/<order_id>/ack")
@require_roles(*ROLES)
def acknowledge(order_id: str):
    client = current_client()
    body = read_json_object()
    key = parse_idempotency_key(request.headers.get("Idempotency-Key"))
    result = body.get("result")
    if result not in ("done", "failed"):
        raise ValidationFailed('result is required: "done" or "failed"')
    detail = body.get("detail")
    if detail is not None and (not isinstance(detail, str) or len(detail) > 2000):
        raise ValidationFailed("detail must be a string of at most 2000 characters")
    if detail is not None and "\x00" in detail:
        raise ValidationFailed("detail must not contain NUL characters")
    number = _order_id(order_id)
    at = now()

    def handler(session):
        try:
            view = cost_control.acknowledge_order(session, number, result=result, now=at, actor=client.actor,
                                                  detail=detail, tz=support().config.tz)
        except OrderNotFound as e:
            raise NotFound(f"no cost-control order {number}", code="order_not_found") from e
        except OrderStateError as e:
            raise Conflict(str(e), code="order_not_pending") from e
        except OrderNotDue as e:
            raise OrderTooEarly(str(e)) from e
        return 200, _order_document(view)

    status, text, replayed = run_idempotent(scope=f"client:{client.pk}", client_pk=client.pk, key=key, body=body,
                                            route=f"POST /api/v1/orders/{number}/ack", handler=handler)
    return json_response(status, text, {"Idempotent-Replayed": "true"} if replayed else None)
