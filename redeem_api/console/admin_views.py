"""Audit and admin pages: verify the audit chain and the ledger now, the event log with filters; staff
accounts (list, create, disable, second-factor reset by two people); API clients (list, create, revoke).

The same services as ``voucherctl audit verify / list``, ``ledger verify``, ``staff create / list / disable /
reset-2fa`` and ``clients create / list / revoke``. A new account's TOTP secret and a new client's API key are
shown once, on the page that answers the creating request (never stored in the clear, never shown again).
"""
from __future__ import annotations

from flask import Response, g, redirect, request, url_for

from redeem_api.console.gate import NAV_EXTRA, allowed, console, lang, now, page, refuse
from redeem_api.console.guard import guard
from redeem_api.console.views import bp
from redeem_api.state import state
from vouchers.books.timeutil import local_date
from vouchers.books.verify import verify as verify_books
from vouchers.errors import VoucherError
from vouchers.services import service_desk
from vouchers.services.batch_review import ReviewRefused
from vouchers.services.batch_review import require_checker  # approver role + fresh TOTP, one rule
from vouchers.services.clients import ClientError, ClientNotFound, create_client, list_clients, revoke_client
from vouchers.services.staff import record_action
from vouchers.staff import accounts
from vouchers.staff.roles import ADMIN, APPROVER, FINANCE, ROLES
from vouchers.storage.api_models import CLIENT_ROLES
from vouchers.text import REASON_MAX, text_problem

AUDIT = frozenset({ADMIN, FINANCE})
STAFF_PAGE = frozenset({ADMIN, APPROVER})  # approvers see it to complete a requested 2FA reset
ADMINS = frozenset({ADMIN})
RESET_APPROVERS = frozenset({APPROVER})
NAV_EXTRA.extend([("console.audit_page", "audit", AUDIT), ("console.staff_page", "staff", STAFF_PAGE),
                  ("console.clients_page", "api_clients", ADMINS)])


def _reason(text: str) -> str | None:
    text = (text or "").strip()
    return text_problem(text, REASON_MAX) if text else "a reason is required"


# -- audit ---------------------------------------------------------------------------------------

def _audit_page(status: int = 200, **extra) -> Response:
    actor = (request.args.get("actor") or "").strip()[:100] or None
    action = (request.args.get("action") or "").strip()[:64] or None
    subject = (request.args.get("subject") or "").strip()[:64] or None
    with state().sessions.begin() as s:
        events = service_desk.audit_events(s, subject=subject, actor=actor, action=action, limit=200)
        checks = service_desk.audit_events(s, action="audit.verify", limit=1)
    return page("audit.html", status, events=events, actor=actor or "", action=action or "",
                subject=subject or "", last_check=checks[0] if checks else None, **extra)


@bp.get("/audit")
@guard(AUDIT)
def audit_page() -> Response:
    return _audit_page()


@bp.post("/audit/verify")
@guard(AUDIT, form=True)
def audit_verify() -> Response:
    """Recompute the audit hash chain and the books' invariants now; both results are audited."""
    with state().sessions.begin() as s:
        chain = service_desk.audit_status(s)
        books = verify_books(s, today=local_date(now(), state().config.settings.timezone))
        record_action(s, g.console, action="audit.verify", subject_type="audit", subject_id="chain", now=now(),
                      to_state="ok" if chain.ok else "problems",
                      details={"events": chain.events, "problems": len(chain.problems)})
        record_action(s, g.console, action="ledger.verify", subject_type="ledger", subject_id="books", now=now(),
                      to_state="ok" if books.ok else "problems", details={"problems": len(books.problems)})
    return _audit_page(chain=chain, books=books)


# -- staff ---------------------------------------------------------------------------------------

def _staff_page(status: int = 200, **extra) -> Response:
    with state().sessions.begin() as s:
        people = accounts.list_staff(s)
    return page("admin_staff.html", status, people=people, roles=ROLES, can_admin=allowed(ADMINS),
                can_approve=allowed(RESET_APPROVERS), me=g.console.staff.username, done=request.args.get("done"),
                **extra)


@bp.get("/admin/staff")
@guard(STAFF_PAGE)
def staff_page() -> Response:
    return _staff_page()


@bp.post("/admin/staff")
@guard(ADMINS, form=True)
def create_staff() -> Response:
    """A new account; its TOTP secret and otpauth URI are shown on this answer only."""
    distributor = request.form.get("distributor", "").strip()[:64] or None
    try:
        with state().sessions.begin() as s:
            enrolment = accounts.create_staff(
                s, username=request.form.get("username", "")[:64], roles=request.form.getlist("role")[:len(ROLES)],
                password=request.form.get("password", "")[:1024], seal_key=console().seal_key, now=now(),
                actor=g.console.staff.username, distributor_id=distributor)
            record_action(s, g.console, action="console.staff.create", subject_type="staff",
                          subject_id=enrolment.staff.username, now=now())
    except VoucherError as e:
        return _staff_page(400, message=str(e))
    return _staff_page(201, enrolment=enrolment)


@bp.post("/admin/staff/<username>/disable")
@guard(ADMINS, form=True)
def disable_staff(username: str) -> Response:
    reason = request.form.get("reason", "")
    problem = _reason(reason)
    if problem:
        return _staff_page(400, message=problem)
    if username[:64] == g.console.staff.username:
        return _staff_page(400, message="nobody disables their own account here (another admin does)")
    try:
        with state().sessions.begin() as s:
            accounts.disable_staff(s, username[:64], now=now(), actor=g.console.staff.username, reason=reason.strip())
            record_action(s, g.console, action="console.staff.disable", subject_type="staff", subject_id=username,
                          now=now(), reason=reason.strip())
    except accounts.StaffNotFound:
        return refuse(404, "not_found")
    except VoucherError as e:
        return _staff_page(409, message=str(e))
    return redirect(url_for("console.staff_page", lang=lang(), done=f"disabled:{username}"), code=303)


@bp.post("/admin/staff/<username>/reset-2fa")
@guard(ADMINS, form=True)
def request_reset(username: str) -> Response:
    """The maker's half of a second-factor reset (an admin; never for themselves)."""
    try:
        with state().sessions.begin() as s:
            accounts.request_2fa_reset(s, username[:64], now=now(), maker=g.console.staff)
            record_action(s, g.console, action="console.staff.reset_2fa.request", subject_type="staff",
                          subject_id=username, now=now())
    except accounts.StaffNotFound:
        return refuse(404, "not_found")
    except VoucherError as e:
        return _staff_page(403, message=str(e))
    return redirect(url_for("console.staff_page", lang=lang(), done=f"reset-requested:{username}"), code=303)


@bp.post("/admin/staff/<username>/reset-2fa/approve")
@guard(RESET_APPROVERS, form=True)
def approve_reset(username: str) -> Response:
    """The checker's half: a different approver with a fresh code; the new secret is shown once, to them."""
    try:
        with state().sessions.begin() as s:
            enrolment = accounts.approve_2fa_reset(s, username[:64], seal_key=console().seal_key, now=now(),
                                                   checker=g.console.staff)  # the maker-checker rule
            # and a fresh code of the checker: if it fails, the whole reset rolls back
            require_checker(s, g.console, request.form.get("totp", "")[:16], console().seal_key, now())
            record_action(s, g.console, action="console.staff.reset_2fa.approve", subject_type="staff",
                          subject_id=username, now=now(), details={"step_up": True})
    except accounts.StaffNotFound:
        return refuse(404, "not_found")
    except (accounts.StaffMakerChecker, ReviewRefused) as e:
        return _staff_page(403, message=str(e))
    return _staff_page(200, enrolment=enrolment, reset=True)


# -- API clients ---------------------------------------------------------------------------------

def _clients_page(status: int = 200, **extra) -> Response:
    with state().sessions.begin() as s:
        clients = list_clients(s)
    return page("admin_clients.html", status, clients=clients, client_roles=CLIENT_ROLES,
                done=request.args.get("done"), **extra)


@bp.get("/admin/clients")
@guard(ADMINS)
def clients_page() -> Response:
    return _clients_page()


@bp.post("/admin/clients")
@guard(ADMINS, form=True)
def create_api_client() -> Response:
    """A new API client; its key is shown on this answer only (only its hash is stored)."""
    form = request.form
    try:
        with state().sessions.begin() as s:
            record, api_key = create_client(s, name=form.get("name", "")[:200], role=form.get("role", "")[:16],
                                            channel=form.get("channel", "").strip()[:32] or None,
                                            distributor_id=form.get("distributor", "").strip()[:64] or None,
                                            now=now(), actor=g.console.staff.username)
            record_action(s, g.console, action="console.api_client.create", subject_type="api_client",
                          subject_id=record.client_id, now=now())
    except (ClientError, VoucherError) as e:
        return _clients_page(400, message=str(e))
    return _clients_page(201, created=record, api_key=api_key)


@bp.post("/admin/clients/<client_id>/revoke")
@guard(ADMINS, form=True)
def revoke_api_client(client_id: str) -> Response:
    try:
        with state().sessions.begin() as s:
            record = revoke_client(s, client_id[:40], now=now(), actor=g.console.staff.username)
            record_action(s, g.console, action="console.api_client.revoke", subject_type="api_client",
                          subject_id=record.client_id, now=now())
    except ClientError as e:
        return _clients_page(404 if isinstance(e, ClientNotFound) else 409, message=str(e))
    return redirect(url_for("console.clients_page", lang=lang(), done=f"revoked:{record.client_id}"), code=303)
