"""The customer page ``/redeem``: account number + code -> result and new balance.

Plain HTML forms (works without JavaScript), Chinese and English, CSRF
token bound to the session cookie (SameSite=Strict, HttpOnly), throttled per
account (stricter than terminals, its own counter) and per IP address. An IP
may be a carrier-grade NAT with hundreds of customers: past a number of
failures the page asks each attempt from it for a proof of work
(:mod:`vouchers.pow`, solved by ``static/pow.js``; only then the script is on
the page), harder as failures grow, and blocks the address only far beyond. Every form
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

from redeem_api.errors import ApiError, ChallengeRequired, Forbidden, UnsupportedMediaType, ValidationFailed
from redeem_api.http import client_ip, now, valid_account_no
from redeem_api.i18n import TEXT, pick_language
from redeem_api.redemption import Attempt
from redeem_api.routes.redemptions import perform_redemption
from redeem_api.state import db, state
from vouchers import pow as proof_of_work
from vouchers.services.throttle import ip_key

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


POW_TTL = 600  # seconds a challenge stays good
CSP_WITH_POW = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
                "frame-ancestors 'none'; base-uri 'none'")


def _pow_secret() -> bytes:
    return state().derive(state().pepper, "proof-of-work")


def _challenge(bits: int | None) -> str | None:
    """A challenge for this address if its failures ask for one (``bits`` known, or read from the counter)."""
    if bits is None:
        session = db()
        try:
            with session.begin():
                failures = state().throttle.peek(session, ip_key(client_ip()), now())
        except Exception:  # the page of a "service unavailable" refusal must still render
            return None
        bits = state().config.throttle.pow_bits(failures + 1)
    if not bits:
        return None
    return proof_of_work.issue(_pow_secret(), client_ip(), bits, int(now().timestamp()))


def _page(status: int, *, lang: str, account_no: str = "", error: str | None = None,
          result: dict | None = None, retry_after: int | None = None, pow_bits: int | None = None) -> Response:
    t = TEXT[lang]
    message = None
    if error is not None:
        message = t.get(error, t["default_error"]).format(seconds=retry_after or 0)
    challenge = None if result is not None or retry_after else _challenge(pow_bits)
    html = render_template("redeem.html", t=t, lang=lang, other="en" if lang == "zh" else "zh",
                           csrf_token=_csrf_token(), submission=secrets.token_hex(16), account_no=account_no,
                           error=message, error_code=error, result=result, challenge=challenge)
    response = make_response(html, status)
    response.headers["Cache-Control"] = "no-store"
    if challenge:  # the one page with a script (static/pow.js): the strict policy plus scripts of our own
        response.headers["Content-Security-Policy"] = CSP_WITH_POW
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
    attempt = Attempt(code, account_no, "web", None, client_ip(), pow_bits=_proof_bits())
    try:
        status, text, _replayed = perform_redemption(attempt, scope=scope, client_pk=None, key=submission,
                                                     body={"account_no": account_no, "code": code},
                                                     route="POST /redeem")
    except ChallengeRequired as e:
        return _page(e.status, lang=lang, account_no=account_no, error=e.code, pow_bits=e.bits)
    except ApiError as e:
        retry = int(e.headers.get("Retry-After", "0") or 0) or None
        return _page(e.status, lang=lang, account_no=account_no, error=e.code, retry_after=retry)
    document = json.loads(text)
    if status != 201:
        return _page(status, lang=lang, account_no=account_no, error=document.get("error", {}).get("code"))
    return _page(200, lang=lang, result=document)


def _proof_bits() -> int:
    """The difficulty of the form's proof of work if it is genuine, for this address, fresh and not used
    before (then spent); 0 otherwise."""
    challenge, solution = request.form.get("pow_challenge", ""), request.form.get("pow_solution", "")
    if not challenge or len(challenge) > 200:
        return 0
    try:
        proof = proof_of_work.verify(_pow_secret(), client_ip(), challenge, solution, int(now().timestamp()),
                                     POW_TTL)
    except proof_of_work.InvalidChallenge:
        return 0
    session = db()
    with session.begin():
        fresh = state().throttle.spend_once(session, "pow:" + proof.nonce, POW_TTL, now())
    return proof.bits if fresh else 0
