"""The console's pages: login, dashboard, batches (review with step-up), customer lookup, distributor stock.

Each view checks the roles of its page before anything else, and each state
change checks the CSRF token first; every action is audited with the staff id
and session id (:func:`vouchers.services.staff.record_action`).
"""
from __future__ import annotations

import json
from pathlib import Path

from flask import Blueprint, Response, g, redirect, request, session, url_for

from redeem_api.console.gate import (BATCHES, COOKIE, COOKIE_PATH, CUSTOMERS, DASHBOARD, PORTAL, REVIEW, VERIFY,
                                     allowed, console, csrf_ok, lang, now, page, refuse)
from redeem_api.console.report_data import report_session
from redeem_api.http import client_ip
from redeem_api.state import state
from vouchers.books.errors import LedgerError
from vouchers.books.timeutil import local_date
from vouchers.books.verify import verify as verify_books
from vouchers.errors import VoucherError
from vouchers.money import format_amount
from vouchers.services import batch_review, staff_views
from vouchers.services import staff as staff_service
from vouchers.services.dashboard import dashboard as dashboard_figures
from vouchers.staff.roles import APPROVER
from vouchers.storage.batch_states import BatchNotFound, BatchStateError, MakerCheckerViolation

bp = Blueprint("console", __name__, url_prefix="/console")
CHECKPOINT_LOG = "audit-checkpoints.jsonl"  # the copies `voucherctl audit checkpoint` appends under VOUCHER_HOME


@bp.app_template_filter("money")
def _money(minor: int) -> str:
    return format_amount(int(minor))


@bp.app_template_filter("local")
def _local(instant) -> str:
    if instant is None:
        return ""
    return instant.astimezone(state().config.settings.tz).strftime("%Y-%m-%d %H:%M")


# -- login and logout --------------------------------------------------------------------------

@bp.get("/login")
def login_form() -> Response:
    return page("login.html")


@bp.post("/login")
def login_submit() -> Response:
    if not csrf_ok():
        return page("login.html", 403, error="csrf_failed")
    config = console().staff
    st = state()
    outcome: staff_service.LoggedIn | VoucherError
    with st.sessions.begin() as s:
        try:
            outcome = staff_service.login(
                s, username=request.form.get("username", "")[:64], password=request.form.get("password", "")[:1024],
                code=request.form.get("totp", "")[:16], ip=client_ip(), kind="web", throttle=st.throttle,
                limits=staff_service.LoginLimits(config.login_user_failures, config.login_ip_failures),
                seal_key=console().seal_key, now=now())
            staff_service.logout(s, request.cookies.get(COOKIE), staff=None, now=now())  # rotation: old one ends
        except (staff_service.LoginRefused, staff_service.LoginThrottled) as e:
            outcome = e  # committed: the failure is counted
    if isinstance(outcome, staff_service.LoginThrottled):
        response = page("login.html", 429, error="throttled", retry_after=outcome.retry_after)
        response.headers["Retry-After"] = str(outcome.retry_after)
        return response
    if isinstance(outcome, VoucherError):
        return page("login.html", 401, error="login_failed")
    session.pop("console_csrf", None)
    response = redirect(url_for("console.dashboard", lang=lang()), code=303)
    response.set_cookie(COOKIE, outcome.token, path=COOKIE_PATH, secure=st.config.cookie_secure, httponly=True,
                        samesite="Strict")
    return response


@bp.post("/logout")
def logout() -> Response:
    if not csrf_ok():
        return refuse(403, "csrf_failed")
    with state().sessions.begin() as s:
        staff_service.logout(s, request.cookies.get(COOKIE), staff=g.console.staff, now=now())
    response = redirect(url_for("console.login_form", lang=lang()), code=303)
    response.delete_cookie(COOKIE, path=COOKIE_PATH)
    return response


# -- dashboard ---------------------------------------------------------------------------------

def _last_checkpoint(home: Path) -> dict | None:
    try:
        lines = (home / CHECKPOINT_LOG).read_text("utf-8").splitlines()
        return json.loads(lines[-1]) if lines else None
    except (OSError, ValueError):
        return None


def _bars(lines) -> list[dict]:
    """Bar widths (percent of the largest amount) for the inline SVG chart: no script, no inline style."""
    top = max((line.amount for line in lines), default=0) or 1
    return [{"channel": line.channel, "count": line.count, "amount": line.amount,
             "width": max(1, round(100 * line.amount / top))} for line in lines]


@bp.get("/")
def dashboard() -> Response:
    if not allowed(DASHBOARD):
        if allowed(PORTAL):
            return redirect(url_for("console.portal", lang=lang()), code=303)
        return refuse(403, "forbidden")
    settings = state().config.settings
    with report_session() as (s, data):
        board = dashboard_figures(s, now=now(), tz=settings.timezone, currency=settings.currency)
    return page("dashboard.html", data=data, board=board, redemptions=_bars(board.redemptions), payments=_bars(board.payments),
                checkpoint=_last_checkpoint(settings.home), can_verify=allowed(VERIFY))


@bp.post("/ledger-verify")
def ledger_verify() -> Response:
    if not allowed(VERIFY):
        return refuse(403, "forbidden")
    if not csrf_ok():
        return refuse(403, "csrf_failed")
    with state().sessions.begin() as s:
        report = verify_books(s, today=local_date(now(), state().config.settings.timezone))
        staff_service.record_action(s, g.console, action="ledger.verify", subject_type="ledger", subject_id="books",
                                    now=now(), to_state="ok" if report.ok else "problems",
                                    details={"problems": len(report.problems)})
    return redirect(url_for("console.dashboard", lang=lang()), code=303)


# -- batches -----------------------------------------------------------------------------------

def _batches_page(status: int = 200, **extra) -> Response:
    wanted = request.args.get("status") or None
    with state().sessions.begin() as s:
        rows = batch_review.list_batches(s, status=wanted)
    who = g.console
    return page("batches.html", status, rows=rows, wanted=wanted, can_review=who.staff.has(APPROVER),
                me=who.staff.username, **extra)


@bp.get("/batches")
def batches() -> Response:
    if not allowed(BATCHES):
        return refuse(403, "forbidden")
    return _batches_page()


def _review(batch_id: str, decision: str) -> Response:
    if not allowed(REVIEW):
        return refuse(403, "forbidden")
    if not csrf_ok():
        return refuse(403, "csrf_failed")
    code = request.form.get("totp", "")[:16]
    try:
        with state().sessions.begin() as s:
            if decision == "approve":
                batch_review.approve(s, g.console, batch_id, totp_code=code, seal_key=console().seal_key, now=now())
            else:
                batch_review.reject(s, g.console, batch_id, reason=request.form.get("reason", "")[:500],
                                    totp_code=code, seal_key=console().seal_key, now=now())
    except BatchNotFound:
        return _batches_page(404, message=f"{batch_id}: not found")
    except batch_review.StepUpRefused as e:
        return _batches_page(403, message=str(e))
    except (MakerCheckerViolation, batch_review.ReviewRefused) as e:
        return _batches_page(403, message=str(e))
    except BatchStateError as e:
        return _batches_page(409, message=str(e))
    return redirect(url_for("console.batches", lang=lang(), done=f"{decision}:{batch_id}"), code=303)


@bp.post("/batches/<batch_id>/approve")
def approve(batch_id: str) -> Response:
    return _review(batch_id, "approve")


@bp.post("/batches/<batch_id>/reject")
def reject(batch_id: str) -> Response:
    return _review(batch_id, "reject")


# -- customer service --------------------------------------------------------------------------

@bp.get("/customers")
def customers() -> Response:
    if not allowed(CUSTOMERS):
        return refuse(403, "forbidden")
    query = (request.args.get("q") or "").strip()[:100]
    account = (request.args.get("account") or "").strip()[:32]
    found, view, status = [], None, 200
    with state().sessions.begin() as s:
        if query:
            found = staff_views.find_accounts(s, query)
            staff_service.record_action(s, g.console, action="console.customer.search", subject_type="customer",
                                        subject_id="search", now=now(), details={"query": query,
                                                                                 "results": len(found)})
        if account:
            try:
                view = staff_views.account_view(s, account)
            except LedgerError:
                status = 404
            else:
                staff_service.record_action(s, g.console, action="console.customer.view", subject_type="customer",
                                            subject_id=account, now=now())
    return page("customers.html", status, query=query, found=found, view=view, searched=bool(query))


# -- distributor portal ------------------------------------------------------------------------

@bp.get("/distributor")
def portal() -> Response:
    if not allowed(PORTAL):
        return refuse(403, "forbidden")
    distributor_id = g.console.staff.distributor_id  # from the account, never from the request
    with state().sessions.begin() as s:
        stock = staff_views.distributor_stock(s, distributor_id)
    return page("distributor.html", stock=stock, distributor_id=distributor_id, cards=None)


@bp.get("/distributor/batches/<batch_id>")
def portal_batch(batch_id: str) -> Response:
    if not allowed(PORTAL) or g.console.staff.distributor_id is None:
        return refuse(403, "forbidden")
    with state().sessions.begin() as s:
        cards = staff_views.distributor_batch(s, g.console.staff.distributor_id, batch_id[:32])
    if cards is None:  # another distributor's batch and no batch look the same
        return refuse(404, "not_found")
    return page("distributor.html", stock=None, distributor_id=g.console.staff.distributor_id, cards=cards,
                batch_id=batch_id)


__all__ = ["bp"]
