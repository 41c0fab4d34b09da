"""The issuer's batch pages: request a batch, a batch's page (print, export, ship, consign, activate, close,
propose a void), the requests page (two-person confirmations, key revocation proposals).

Every page checks its roles first and every state change its CSRF token; the
work is :mod:`vouchers.services.batch_desk`, the same module the CLI's
``requests`` and ``batch void`` use. What needs the issuer's secrets (a new
batch, a print run, an export, closing) is recorded as a request for the
issuer process (``voucherctl requests fulfil N``): this process never signs.
"""
from __future__ import annotations

import datetime as dt

from flask import Response, g, redirect, request, url_for

from redeem_api.console.gate import BATCHES, allowed, console, csrf_ok, lang, now, page, refuse
from redeem_api.console.views import bp
from redeem_api.state import state
from vouchers.books.errors import BatchNotFound as NoSuchBatch, LedgerError
from vouchers.books.timeutil import local_date
from vouchers.books.voucher_books import NotYourStock
from vouchers.errors import InvalidMoney, VoucherError
from vouchers.keyring import KeyStatus
from vouchers.money import parse_positive_amount
from vouchers.services import batch_desk
from vouchers.staff.roles import ADMIN, APPROVER, ISSUER_OPERATOR
from vouchers.storage import batch_states

MAKER = frozenset({ISSUER_OPERATOR})
PROPOSE_VOID = frozenset({ISSUER_OPERATOR, APPROVER})
REQUESTS = frozenset({ISSUER_OPERATOR, APPROVER, ADMIN})
CONFIRM = frozenset({APPROVER})
PROPOSE_REVOKE = frozenset({ADMIN, APPROVER})
LAYOUTS = ("a4-cards",)  # offered in the form; the issuer process checks the name against its layouts


def failure(e: Exception) -> tuple[int, str]:
    """A domain refusal as (HTTP status, text code of the console's catalogue)."""
    if isinstance(e, (batch_states.BatchNotFound, NoSuchBatch, batch_desk.RequestNotFound)):
        return 404, "not_found"
    if isinstance(e, NotYourStock):  # said alike for another distributor's cards and none
        return 404, "not_in_stock"
    if isinstance(e, batch_desk.SamePerson):
        return 403, "same_person"
    if isinstance(e, batch_desk.StepUpRefused):
        return 403, "step_up_refused"
    if isinstance(e, batch_states.BatchStateError):
        return 409, "batch_state"
    if isinstance(e, LedgerError):  # consignment or activation refused (all or nothing)
        return 409, "stock_refused"
    return 422, "refused"


def _count(text: str | None) -> int | None:
    text = (text or "").strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 8:
        raise batch_desk.DeskRefused("the number of cards must be a whole number")
    return int(text)


def _form(name: str, limit: int = 200) -> str:
    return (request.form.get(name) or "")[:limit]


# -- new batch request --------------------------------------------------------------------------

def _new_page(status: int = 200, **extra) -> Response:
    return page("issuer_new.html", status, currency=state().config.settings.currency, form=request.form, **extra)


@bp.get("/batches/new")
def batch_new() -> Response:
    if not allowed(MAKER):
        return refuse(403, "forbidden")
    return _new_page()


@bp.post("/batches/new")
def batch_new_submit() -> Response:
    settings = state().config.settings

    def ask(s) -> int:  # type: ignore[no-untyped-def]
        try:
            face = parse_positive_amount(_form("face_value", 20))
            expires = dt.date.fromisoformat(_form("expires", 10))
        except (InvalidMoney, ValueError) as e:
            raise batch_desk.DeskRefused("face value like 100.00 and expiry like 2030-12-31 are required") from e
        count = _count(_form("count", 10))
        if count is None:
            raise batch_desk.DeskRefused("the number of cards is required")
        return batch_desk.request_batch(
            s, g.console, face_value=face, count=count, expires=expires,
            currency=_form("currency", 3) or settings.currency, today=local_date(now(), settings.timezone),
            max_count=settings.max_batch_size, now=now())

    return guarded(MAKER, ask, lambda status, code, detail: _new_page(status, error=code, message=detail),
                   lambda request_id: url_for("console.requests_page", lang=lang(), done=request_id))


# -- one batch ---------------------------------------------------------------------------------

def _batch_page(batch_id: str, status: int = 200, **extra) -> Response:
    with state().sessions.begin() as s:
        try:
            batch = batch_states.get_batch(s, batch_id[:32])
        except batch_states.BatchNotFound:
            return refuse(404, "not_found")
        counts = batch_states.status_counts(s, batch)
        holders = batch_states.stock_by_holder(s, batch)
        requests = batch_desk.list_requests(s, subject_id=batch.batch_id)
        row = {"batch_id": batch.batch_id, "status": batch.status, "face_value": batch.face_value,
               "currency": batch.currency, "count": batch.count, "first_serial": batch.first_serial,
               "last_serial": batch.last_serial, "expires": batch.expires, "created_by": batch.created_by,
               "approved_by": batch.approved_by, "void_reason": batch.void_reason}
    who = g.console.staff
    issued = row["status"] in ("approved", "printed", "shipped")
    can = {
        "print": who.has(ISSUER_OPERATOR) and issued,
        "export": who.has(ISSUER_OPERATOR) and issued,
        "ship": who.has(ISSUER_OPERATOR) and row["status"] in ("approved", "printed"),
        "consign": who.has(ISSUER_OPERATOR) and issued,
        "activate": who.has(ISSUER_OPERATOR) and issued,
        "close": who.has(ISSUER_OPERATOR) and row["status"] == "shipped",
        "void": bool(who.roles & PROPOSE_VOID) and row["status"] not in ("void", "closed"),
    }
    return page("issuer_batch.html", status, batch=row, counts=counts, holders=holders, requests=requests,
                can=can, layouts=LAYOUTS, **extra)


@bp.get("/batches/<batch_id>")
def batch_page(batch_id: str) -> Response:
    if not allowed(BATCHES):
        return refuse(403, "forbidden")
    return _batch_page(batch_id)


def guarded(roles: frozenset[str], action, refused, done) -> Response:  # type: ignore[no-untyped-def]
    """Role, CSRF, then ``action(session)`` in one transaction; a domain refusal answers
    ``refused(status, code, detail)``, success redirects (303) to ``done(result)``."""
    if not allowed(roles):
        return refuse(403, "forbidden")
    if not csrf_ok():
        return refuse(403, "csrf_failed")
    try:
        with state().sessions.begin() as s:
            result = action(s)
    except VoucherError as e:
        status, code = failure(e)
        return refused(status, code, str(e))
    return redirect(done(result), code=303)


def _act(batch_id: str, roles: frozenset[str], action) -> Response:  # type: ignore[no-untyped-def]
    """A batch action; a refusal re-renders the batch page with its reason."""
    def refused(status: int, code: str, detail: str) -> Response:
        if status == 404:
            return refuse(404, "not_found")
        return _batch_page(batch_id, status, error=code, message=detail)

    return guarded(roles, action, refused,
                   lambda done: url_for("console.batch_page", batch_id=batch_id[:32], lang=lang(), done=done))


@bp.post("/batches/<batch_id>/print")
def batch_print(batch_id: str) -> Response:
    return _act(batch_id, MAKER, lambda s: "request:%d" % batch_desk.request_print(
        s, g.console, batch_id, layout=_form("layout", 40) or LAYOUTS[0], now=now()))


@bp.post("/batches/<batch_id>/export")
def batch_export(batch_id: str) -> Response:
    return _act(batch_id, MAKER, lambda s: "request:%d" % batch_desk.request_export(
        s, g.console, batch_id, recipient=_form("recipient", 100), now=now()))


@bp.post("/batches/<batch_id>/ship")
def batch_ship(batch_id: str) -> Response:
    return _act(batch_id, MAKER, lambda s: batch_desk.ship(s, g.console, batch_id, now=now()))


@bp.post("/batches/<batch_id>/consign")
def batch_consign(batch_id: str) -> Response:
    return _act(batch_id, MAKER, lambda s: "consigned:%d" % batch_desk.consign(
        s, g.console, batch_id, _form("distributor", 64), first_serial=_form("first_serial", 40),
        count=_count(_form("count", 10)), now=now()).consigned)


@bp.post("/batches/<batch_id>/activate")
def batch_activate(batch_id: str) -> Response:
    return _act(batch_id, MAKER, lambda s: "activated:%d" % batch_desk.activate(
        s, g.console, batch_id, _form("distributor", 64).strip(), first_serial=_form("first_serial", 40),
        count=_count(_form("count", 10)), now=now(), own_stock_only=False).count)


@bp.post("/batches/<batch_id>/close")
def batch_close(batch_id: str) -> Response:
    return _act(batch_id, MAKER, lambda s: "request:%d" % batch_desk.request_close(s, g.console, batch_id,
                                                                                    now=now()))


@bp.post("/batches/<batch_id>/void")
def batch_void(batch_id: str) -> Response:
    return _act(batch_id, PROPOSE_VOID, lambda s: "request:%d" % batch_desk.propose_void(
        s, g.console, batch_id, reason=_form("reason", 500), now=now()))


# -- requests and two-person confirmations -----------------------------------------------------

def _revocable_keys() -> list[str]:
    return sorted(k.key_id for k in state().keyring.get() if k.status is not KeyStatus.REVOKED)


def _requests_page(status: int = 200, **extra) -> Response:
    with state().sessions.begin() as s:
        rows = batch_desk.list_requests(s)
    who = g.console.staff
    return page("issuer_requests.html", status, rows=rows, me=who.username, can_confirm=who.has(APPROVER),
                can_revoke=bool(who.roles & PROPOSE_REVOKE), keys=_revocable_keys(), done=request.args.get("done"),
                **extra)


@bp.get("/requests")
def requests_page() -> Response:
    if not allowed(REQUESTS):
        return refuse(403, "forbidden")
    return _requests_page()


def _decide(roles: frozenset[str], action) -> Response:  # type: ignore[no-untyped-def]
    return guarded(roles, action, lambda status, code, detail: _requests_page(status, error=code, message=detail),
                   lambda done: url_for("console.requests_page", lang=lang(), done=done))


@bp.post("/requests/<int:request_id>/confirm")
def request_confirm(request_id: int) -> Response:
    return _decide(CONFIRM, lambda s: batch_desk.confirm(
        s, g.console, request_id, totp_code=_form("totp", 16), seal_key=console().seal_key, now=now()).id)


@bp.post("/requests/<int:request_id>/reject")
def request_reject(request_id: int) -> Response:
    return _decide(CONFIRM, lambda s: batch_desk.reject(s, g.console, request_id, reason=_form("reason", 500),
                                                        now=now()).id)


@bp.post("/keys/revoke")
def key_revoke() -> Response:
    return _decide(PROPOSE_REVOKE, lambda s: batch_desk.propose_key_revoke(
        s, g.console, _form("key_id", 64), reason=_form("reason", 500), known_keys=set(_revocable_keys()),
        now=now()))
