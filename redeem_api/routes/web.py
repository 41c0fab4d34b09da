"""The customer page ``/redeem``: account number + code -> result and new balance.

Plain HTML forms (works without JavaScript), Chinese and English, CSRF
token bound to the session cookie (SameSite=Strict, HttpOnly), throttled per
IP address and per account with lower limits than terminals. Every form
carries a one-time submission id used as the Idempotency-Key, so a double
click or a reload shows the same result instead of a second attempt.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from urllib.parse import urlsplit

from flask import Blueprint, Response, make_response, render_template, request, session
from werkzeug.exceptions import HTTPException

from redeem_api.errors import ApiError, Forbidden, UnsupportedMediaType, ValidationFailed
from redeem_api.http import client_ip, valid_account_no
from redeem_api.i18n import TEXT, pick_language
from redeem_api.redemption import Attempt
from redeem_api.routes.redemptions import perform_redemption

bp = Blueprint("web", __name__)
_SUBMISSION = re.compile(r"[0-9a-f]{32}")


def _lang() -> str:
    """The page's language: ``?lang=`` (the form's action keeps it, so even a refused body is answered in
    it), else the form's ``lang`` field, else Accept-Language."""
    requested = request.args.get("lang")
    if requested is None and request.method == "POST":
        requested = _form_lang()
    return pick_language(requested, request.headers.get("Accept-Language"))


def _form_lang() -> str | None:
    """The form's ``lang`` field, or None when the body cannot be read as a form (e.g. over the size limit)."""
    try:
        return request.form.get("lang")
    except HTTPException:
        return None


def _csrf_token() -> str:
    token = session.get("csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def _page(status: int, *, lang: str, account_no: str = "", error: str | None = None,
          result: dict | None = None, retry_after: int | None = None, hold_id: str = "") -> Response:
    t = TEXT[lang]
    message = None
    if error is not None:
        message = t.get(error, t["default_error"]).format(seconds=retry_after or 0, hold_id=hold_id)
    html = render_template("redeem.html", t=t, lang=lang, other="en" if lang == "zh" else "zh",
                           csrf_token=_csrf_token(), submission=secrets.token_hex(16), account_no=account_no,
                           error=message, error_code=error, result=result)
    response = make_response(html, status)
    response.headers["Cache-Control"] = "no-store"
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response


def render_error(error: ApiError) -> Response:
    """HTML rendering of any refusal on the web page's paths."""
    retry = int(error.headers.get("Retry-After", "0") or 0) or None
    response = _page(error.status, lang=_lang(), error=error.code, retry_after=retry)
    for key, value in error.headers.items():
        response.headers[key] = value
    return response


@bp.get("/redeem")
def form():
    return _page(200, lang=_lang())


def _check_origin() -> None:
    origin = request.headers.get("Origin")
    if origin and origin != "null":
        if urlsplit(origin).netloc != request.host:
            raise Forbidden("cross-site form submission refused", code="csrf_failed")


@bp.post("/redeem")
def submit():
    lang = _lang()
    if request.mimetype not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        raise UnsupportedMediaType("submit the form")
    _check_origin()
    expected = session.get("csrf")
    given = request.form.get("csrf_token", "")
    if not isinstance(expected, str) or not given or not hmac.compare_digest(expected.encode(), given.encode()):
        raise Forbidden("the form's security token is missing or expired", code="csrf_failed")
    account_no = (request.form.get("account_no") or "").strip()
    code = (request.form.get("code") or "").strip()
    submission = request.form.get("submission", "")
    if not account_no or not code or len(code) > 1024 or not valid_account_no(account_no):
        return _page(400, lang=lang, account_no=account_no if valid_account_no(account_no) else "",
                     error=ValidationFailed.code)
    if not _SUBMISSION.fullmatch(submission):
        return _page(400, lang=lang, account_no=account_no, error=ValidationFailed.code)
    scope = "web:" + hashlib.sha256(expected.encode()).hexdigest()[:32]
    attempt = Attempt(code, account_no, "web", None, client_ip())
    try:
        status, text, _replayed = perform_redemption(attempt, scope=scope, client_pk=None, key=submission,
                                                     body={"account_no": account_no, "code": code},
                                                     route="POST /redeem")
    except ApiError as e:
        retry = int(e.headers.get("Retry-After", "0") or 0) or None
        return _page(e.status, lang=lang, account_no=account_no, error=e.code, retry_after=retry)
    document = json.loads(text)
    if status == 202:  # held for fraud review: the customer sees "under review" (zh/en), not a receipt
        return _page(202, lang=lang, account_no=account_no, error="held_for_review",
                     hold_id=str(document.get("hold_id", "")))
    if status != 201:
        return _page(status, lang=lang, account_no=account_no, error=document.get("error", {}).get("code"))
    return _page(200, lang=lang, result=document)
