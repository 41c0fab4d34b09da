"""The customer page ``/redeem``: account number + code -> whose account? -> confirm -> result.

Two steps, so a mistyped but existing 户号 is caught before the card is spent:
``POST /redeem`` checks the code's format, looks the holder up (throttled per
IP: :mod:`redeem_api.holder_lookup`) and shows the masked holder and district;
nothing is spent. ``POST /redeem/confirm`` redeems what the first step sealed
into its ticket (:mod:`redeem_api.confirmation`: the code never comes back in
clear, the account confirmed is the account credited). The success page shows
the account and the masked holder.

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

from redeem_api.confirmation import Ticket, open_ticket, seal_ticket
from redeem_api.errors import ApiError, ChallengeRequired, Forbidden, NotFound, UnsupportedMediaType, ValidationFailed
from redeem_api.holder_lookup import look_up_holder
from redeem_api.http import client_ip, current_request_id, now, valid_account_no
from redeem_api.i18n import TEXT, pick_language
from redeem_api.redemption import Attempt, check_code_format
from redeem_api.routes.redemptions import perform_redemption
from redeem_api.state import AppState, db, state
from vouchers import pow as proof_of_work
from vouchers.services.holder import Holder
from vouchers.services.throttle import ip_key
from vouchers.token import token_from_scan

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
          result: dict | None = None, retry_after: int | None = None, holder: Holder | None = None,
          ticket: str | None = None, hold_id: str = "", pow_bits: int | None = None) -> Response:
    branding = state().config.branding
    t = {key: value.replace("{hotline}", branding.hotline) for key, value in TEXT[lang].items()}
    message = None
    if error is not None:
        message = t.get(error, t["default_error"]).format(seconds=retry_after or 0, hold_id=hold_id)
    # the proof of work goes with the first step's form only (not on a result, a confirmation or a lockout)
    challenge = None if result is not None or holder is not None or retry_after else _challenge(pow_bits)
    html = render_template("redeem.html", t=t, lang=lang, other="en" if lang == "zh" else "zh", brand=branding,
                           csrf_token=_csrf_token(), submission=secrets.token_hex(16), account_no=account_no,
                           error=message, error_code=error, result=result, holder=holder, ticket=ticket,
                           challenge=challenge, request_id=current_request_id())
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


@bp.get("/r")
def from_qr():
    """What a card's QR opens (``/r#EV1:...``): the redeem page; redeem.js copies the token from the
    fragment into the form (a fragment never reaches the server, so never an access log)."""
    return _page(200, lang=_lang())


@bp.get("/redeem/brand.css")
def brand_css():
    """The brand colours as CSS variables (the CSP allows no inline style)."""
    b = state().config.branding
    response = make_response(f":root {{ --brand: {b.primary_colour}; --accent: {b.accent_colour}; }}\n", 200)
    response.mimetype = "text/css"
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@bp.get("/redeem/logo")
def logo():
    """The configured logo, for the page's header (404 when there is none)."""
    branding = state().config.branding
    if branding.logo is None:
        raise NotFound("no logo is configured")
    kind = branding.logo_type
    response = make_response(branding.logo, 200)
    response.mimetype = "image/png" if kind == "png" else "image/svg+xml"
    response.headers["Cache-Control"] = "public, max-age=3600"
    # an SVG opened on its own must not run anything it carries
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    return response


def _check_origin() -> None:
    origin = request.headers.get("Origin")
    if origin and origin != "null":
        if urlsplit(origin).netloc != request.host:
            raise Forbidden("cross-site form submission refused", code="csrf_failed")


def _ticket_key() -> bytes:
    return AppState.derive(state().pepper, "redeem-ticket")


def _checked_form() -> str:
    """The form's checks shared by both steps (media type, origin, CSRF); returns the CSRF token."""
    if request.mimetype not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        raise UnsupportedMediaType("submit the form")
    _check_origin()
    expected = session.get("csrf")
    given = request.form.get("csrf_token", "")
    if not isinstance(expected, str) or not given or not hmac.compare_digest(expected.encode(), given.encode()):
        raise Forbidden("the form's security token is missing or expired", code="csrf_failed")
    return expected


@bp.post("/redeem")
def submit():
    """Step 1: the code's format, then whose account it is (masked). Nothing is spent here."""
    lang = _lang()
    csrf = _checked_form()
    account_no = (request.form.get("account_no") or "").strip()
    # the 20-digit code as typed, or a pasted token or card URL (https://.../r#EV1:...): the token inside
    code = token_from_scan((request.form.get("code") or "").strip())
    submission = request.form.get("submission", "")
    if not account_no or not code or len(code) > 1024 or not valid_account_no(account_no):
        return _page(400, lang=lang, account_no=account_no if valid_account_no(account_no) else "",
                     error=ValidationFailed.code)
    if not _SUBMISSION.fullmatch(submission):
        return _page(400, lang=lang, account_no=account_no, error=ValidationFailed.code)
    try:
        check_code_format(Attempt(code, account_no, "web", None, client_ip()))  # typos cost no lookup
        # the form's proof of work (if any) is checked and spent here: it guards this lookup, and the
        # confirmation carries its difficulty to the redemption
        pow_bits = _proof_bits()
        st = state()
        holder = look_up_holder(db(), account_no, client=None, ip=client_ip(), throttle=st.throttle,
                                limits=st.config.throttle, now=now(), pow_bits=pow_bits)
    except ChallengeRequired as e:
        return _page(e.status, lang=lang, account_no=account_no, error=e.code, pow_bits=e.bits)
    except ApiError as e:
        retry = int(e.headers.get("Retry-After", "0") or 0) or None
        return _page(e.status, lang=lang, account_no=account_no, error=e.code, retry_after=retry)
    ticket = seal_ticket(_ticket_key(), Ticket(account_no, code, submission, pow_bits=pow_bits),
                         csrf_token=csrf, now=now())
    return _page(200, lang=lang, account_no=account_no, holder=holder, ticket=ticket)


@bp.post("/redeem/confirm")
def confirm():
    """Step 2: redeem exactly what step 1 showed (the sealed ticket), once per submission."""
    lang = _lang()
    csrf = _checked_form()
    ticket = open_ticket(_ticket_key(), request.form.get("ticket", ""), csrf_token=csrf, now=now())
    if ticket is None:
        return _page(400, lang=lang, error="confirmation_expired")
    account_no, code = ticket.account_no, ticket.code
    scope = "web:" + hashlib.sha256(csrf.encode()).hexdigest()[:32]
    attempt = Attempt(code, account_no, "web", None, client_ip(), pow_bits=ticket.pow_bits)
    try:
        status, text, _replayed = perform_redemption(attempt, scope=scope, client_pk=None, key=ticket.submission,
                                                     body={"account_no": account_no, "code": code},
                                                     route="POST /redeem")
    except ChallengeRequired as e:
        return _page(e.status, lang=lang, account_no=account_no, error=e.code, pow_bits=e.bits)
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
