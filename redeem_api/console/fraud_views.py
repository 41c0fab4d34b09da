"""Fraud analyst pages: cases (list, show, close with a verdict) and money held for review (list, release).

The same services as ``voucherctl fraud cases / case show / case close / holds / release``
(:mod:`vouchers.services.fraud_cases`, :mod:`vouchers.services.fraud_holds`); the analyst's
username is the actor, and each action is also a staff action naming the session.
"""
from __future__ import annotations

import datetime as dt

from flask import Response, g, redirect, request, url_for

from redeem_api.console.gate import NAV_EXTRA, lang, now, page, refuse
from redeem_api.console.guard import guard
from redeem_api.console.views import bp
from redeem_api.state import state
from vouchers.errors import VoucherError
from vouchers.services.errors import FraudReviewError
from vouchers.services.fraud_cases import close_case, list_cases, show_case
from vouchers.services.fraud_holds import HoldNotFound, list_holds, release
from vouchers.services.staff import record_action
from vouchers.staff.roles import FRAUD_ANALYST

FRAUD = frozenset({FRAUD_ANALYST})
HOLD_STATUSES = ("held", "released", "returned")
NAV_EXTRA.extend([("console.cases_page", "fraud_cases", FRAUD), ("console.holds_page", "holds", FRAUD)])


@bp.app_template_filter("iso_local")
def _iso_local(text: str | None) -> str:
    """An ISO 8601 instant (as the services' documents give it) in the business time zone, as people read it."""
    if not text:
        return ""
    return dt.datetime.fromisoformat(text).astimezone(state().config.settings.tz).strftime("%Y-%m-%d %H:%M")


@bp.get("/fraud/cases")
@guard(FRAUD)
def cases_page() -> Response:
    open_only = request.args.get("open") == "1"
    with state().sessions.begin() as s:
        rows = list_cases(s, open_only=open_only, limit=200)
    return page("fraud_cases.html", cases=rows, open_only=open_only)


def _case_page(case_id: int, status: int = 200, **extra) -> Response:
    try:
        with state().sessions.begin() as s:
            body = show_case(s, case_id, lang=lang())
    except FraudReviewError:
        return refuse(404, "not_found")
    return page("fraud_case.html", status, case=body, done=request.args.get("done"), **extra)


@bp.get("/fraud/cases/<int:case_id>")
@guard(FRAUD)
def case_page(case_id: int) -> Response:
    return _case_page(case_id)


@bp.post("/fraud/cases/<int:case_id>/close")
@guard(FRAUD, form=True)
def close_case_action(case_id: int) -> Response:
    verdict = request.form.get("verdict", "")[:8]
    note = request.form.get("note", "")[:2000]
    try:
        with state().sessions.begin() as s:
            close_case(s, case_id, verdict=verdict, note=note, actor=g.console.staff.username, now=now())
            record_action(s, g.console, action="console.fraud.case_close", subject_type="fraud_case",
                          subject_id=str(case_id), now=now(), reason=note[:500], details={"verdict": verdict})
    except FraudReviewError as e:
        if "no fraud case" in str(e):
            return refuse(404, "not_found")
        return _case_page(case_id, 400, message=str(e))
    return redirect(url_for("console.case_page", case_id=case_id, lang=lang(), done="closed"), code=303)


def _holds_page(status: int = 200, **extra) -> Response:
    wanted = request.args.get("status") or None
    if wanted not in HOLD_STATUSES:
        wanted = None
    with state().sessions.begin() as s:
        rows = list_holds(s, status=wanted, limit=200)
    return page("fraud_holds.html", status, holds=rows, wanted=wanted, statuses=HOLD_STATUSES,
                done=request.args.get("done"), **extra)


@bp.get("/fraud/holds")
@guard(FRAUD)
def holds_page() -> Response:
    return _holds_page()


@bp.post("/fraud/holds/<hold_id>/release")
@guard(FRAUD, form=True)
def release_hold(hold_id: str) -> Response:
    """To the customer's account, or back where it came from (the card's liability, the channel). Idempotent."""
    to = request.form.get("to", "")
    reason = request.form.get("reason", "").strip()[:500]
    if to not in ("account", "source") or not reason:
        return _holds_page(400, message="choose where the money goes and give a reason")
    try:
        with state().sessions.begin() as s:
            done = release(s, hold_id[:40], to=to, reason=reason, actor=g.console.staff.username, now=now(),
                           deps=state().services)
            record_action(s, g.console, action="console.fraud.release", subject_type="fraud_hold",
                          subject_id=done.hold_id, now=now(), reason=reason,
                          details={"to": to, "status": done.status, "replayed": done.replayed})
    except FraudReviewError as e:
        return _holds_page(404 if isinstance(e, HoldNotFound) else 409, message=str(e))
    except VoucherError as e:
        return _holds_page(409, message=str(e))
    return redirect(url_for("console.holds_page", lang=lang(), done=f"{done.hold_id}:{done.status}"), code=303)
