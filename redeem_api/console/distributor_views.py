"""The distributor portal's actions: activate sold stock (by first serial + count), the settlement statement
with its remittances.

The distributor always comes from the staff account, never from the form or
the URL; a range that is not all this distributor's stock, or a batch that
does not exist, answers the same 404 (no IDOR).
"""
from __future__ import annotations

import datetime as dt

from flask import Response, g, request, url_for

from redeem_api.console.gate import PORTAL, allowed, lang, now, page, refuse
from redeem_api.console.issuer_views import _count, _form, guarded
from redeem_api.console.views import bp
from redeem_api.state import state
from vouchers.books.timeutil import local_date
from vouchers.services import batch_desk, staff_views, statements


def _own() -> str | None:
    return g.console.staff.distributor_id if allowed(PORTAL) else None


@bp.post("/distributor/activate")
def portal_activate() -> Response:
    distributor_id = _own()  # from the account, never from the form
    if distributor_id is None:
        return refuse(403, "forbidden")

    def sell(s):  # type: ignore[no-untyped-def]
        return batch_desk.activate(s, g.console, _form("batch_id", 32).strip(), distributor_id,
                                   first_serial=_form("first_serial", 40), count=_count(_form("count", 10)),
                                   now=now(), own_stock_only=True)

    def refused(status: int, code: str, detail: str) -> Response:
        if status == 404:  # no such batch, or not (all) this distributor's stock: the same answer
            return _portal(404, error="not_in_stock")
        return _portal(status, error=code, message=detail)

    return guarded(PORTAL, sell, refused, lambda result: url_for(
        "console.portal", lang=lang(), done=f"{result.count}:{result.first_serial}-{result.last_serial}"))


def _portal(status: int, **extra) -> Response:
    distributor_id = g.console.staff.distributor_id
    with state().sessions.begin() as s:
        stock = staff_views.distributor_stock(s, distributor_id)
    return page("distributor.html", status, stock=stock, distributor_id=distributor_id, cards=None, **extra)


def _day(name: str, default: dt.date) -> dt.date:
    try:
        return dt.date.fromisoformat((request.args.get(name) or "")[:10])
    except ValueError:
        return default


@bp.get("/distributor/statement")
def portal_statement() -> Response:
    distributor_id = _own()
    if distributor_id is None:
        return refuse(403, "forbidden")
    settings = state().config.settings
    today = local_date(now(), settings.timezone)
    first, last = _day("from", today.replace(day=1)), _day("to", today)
    if last < first or (last - first).days > 366:
        first, last = today.replace(day=1), today
    statement = None
    with state().sessions.begin() as s:
        try:
            statement = statements.distributor_settlement(s, distributor_id, first=first, last=last,
                                                          tz=settings.timezone, currency=settings.currency,
                                                          acting_for=distributor_id)
        except statements.DistributorNotFound:
            statement = None  # nothing consigned or sold yet: an empty statement
    remittances = [line for line in statement.lines if line.kind == "remittance"] if statement else []
    return page("distributor_statement.html", statement=statement, remittances=remittances, first=first,
                last=last, distributor_id=distributor_id)
