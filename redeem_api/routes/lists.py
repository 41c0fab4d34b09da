"""Lists and statements for finance and customer service, and a distributor's own stock and statement.

HTTP only: query parameters in, :mod:`vouchers.services.lists` /
:mod:`vouchers.services.statements` called, their documents
(:mod:`vouchers.services.list_documents`) out. A distributor's client is
scoped to its own distributor: another one's id answers 404
``unknown_distributor``, exactly like an id that does not exist.
"""
from __future__ import annotations

import datetime as dt
import re

from flask import Blueprint, request

from redeem_api.errors import ApiError, NotFound, UnknownAccount, ValidationFailed
from redeem_api.http import current_client, json_response, require_roles, today
from redeem_api.state import db, state
from vouchers.services import list_documents as documents
from vouchers.services import lists, statements

bp = Blueprint("lists", __name__, url_prefix="/api/v1")
FINANCE_AND_SERVICE = ("finance", "service", "admin")
DISTRIBUTOR_VIEW = ("distributor", "finance", "admin")
_INT = re.compile(r"[0-9]{1,9}")
_MAX_PARAM = 100


def _param(name: str) -> str | None:
    values = request.args.getlist(name)
    if len(values) > 1:
        raise ValidationFailed(f"{name} given more than once")
    if not values:
        return None
    value = values[0]
    if len(value) > _MAX_PARAM or not value.isprintable():
        raise ValidationFailed(f"{name} must be at most {_MAX_PARAM} printable characters")
    return value


def _int(name: str, default: int) -> int:
    value = _param(name)
    if value is None or value == "":
        return default
    if not _INT.fullmatch(value):
        raise ValidationFailed(f"{name} must be a whole number")
    return int(value)


def _date(name: str) -> dt.date | None:
    value = _param(name)
    if value is None or value == "":
        return None
    try:
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
            raise ValueError(value)
        return dt.date.fromisoformat(value)
    except ValueError as e:
        raise ValidationFailed(f"{name} must be a date like 2026-11-30") from e


def _period() -> tuple[dt.date, dt.date]:
    last = _date("to") or today()
    return _date("from") or last.replace(day=1), last


def _tz() -> str:
    return state().config.settings.timezone


def _invalid(e: lists.InvalidQuery) -> ApiError:
    return ValidationFailed(str(e))


@bp.get("/accounts")
@require_roles(*FINANCE_AND_SERVICE)
def search_accounts():
    query = lists.AccountQuery(_param("q"), _param("account_no"), _param("name"), _param("meter"), _param("phone"))
    limit, offset = _int("limit", lists.DEFAULT_LIMIT), _int("offset", 0)
    session = db()
    try:
        with session.begin():
            page = lists.search_accounts(session, query, limit=limit, offset=offset)
    except lists.InvalidQuery as e:
        raise _invalid(e) from e
    return json_response(200, documents.account_page(page, _tz()))


@bp.get("/accounts/<account_no>/statement")
@require_roles(*FINANCE_AND_SERVICE)
def account_statement(account_no: str):
    first, last = _period()
    session = db()
    try:
        with session.begin():
            s = statements.account_statement(session, account_no, first=first, last=last, tz=_tz())
    except lists.InvalidQuery as e:
        raise _invalid(e) from e
    except statements.AccountNotFound as e:
        raise UnknownAccount("no electricity account with that number") from e
    return json_response(200, documents.account_statement(s, _tz()))


@bp.get("/payments")
@require_roles(*FINANCE_AND_SERVICE)
def list_payments():
    filters = lists.PaymentFilter(_param("channel"), _date("from"), _date("to"), _param("ref"), _param("account_no"))
    limit, offset = _int("limit", lists.DEFAULT_LIMIT), _int("offset", 0)
    session = db()
    try:
        with session.begin():
            page = lists.list_payments(session, filters, tz=_tz(), limit=limit, offset=offset)
    except lists.InvalidQuery as e:
        raise _invalid(e) from e
    return json_response(200, documents.payment_page(page, _tz()))


def _acting_for() -> str | None:
    client = current_client()
    return client.distributor_id if client.role == "distributor" else None


def _unknown_distributor(e: Exception) -> ApiError:
    return NotFound("no such distributor for this API key", code="unknown_distributor")


@bp.get("/distributors/<distributor_id>/stock")
@require_roles(*DISTRIBUTOR_VIEW)
def distributor_stock(distributor_id: str):
    session = db()
    try:
        with session.begin():
            stock = statements.distributor_stock(session, distributor_id, acting_for=_acting_for())
    except statements.DistributorNotFound as e:
        raise _unknown_distributor(e) from e
    return json_response(200, documents.distributor_stock(stock, _tz()))


@bp.get("/distributors/<distributor_id>/statement")
@require_roles(*DISTRIBUTOR_VIEW)
def distributor_statement(distributor_id: str):
    first, last = _period()
    currency = state().config.settings.currency
    session = db()
    try:
        with session.begin():
            s = statements.distributor_settlement(session, distributor_id, first=first, last=last, tz=_tz(),
                                                  currency=currency, acting_for=_acting_for())
    except lists.InvalidQuery as e:
        raise _invalid(e) from e
    except statements.DistributorNotFound as e:
        raise _unknown_distributor(e) from e
    return json_response(200, documents.distributor_statement(s, first, last, _tz()))
