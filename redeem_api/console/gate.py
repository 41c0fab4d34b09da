"""Who is asking: the console's session cookie, CSRF tokens, role checks, the page renderer."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from werkzeug.exceptions import MethodNotAllowed
from flask import Response, current_app, g, make_response, redirect, render_template, request, session, url_for
from werkzeug.exceptions import HTTPException

from redeem_api.console.text import TEXT
from redeem_api.i18n import pick_language
from redeem_api.state import state
from vouchers.staff import sessions
from vouchers.staff.config import StaffConfig
from vouchers.staff.roles import ADMIN, APPROVER, CUSTOMER_SERVICE, DISTRIBUTOR, FINANCE, FRAUD_ANALYST, INTERNAL, \
    ISSUER_OPERATOR

EXTENSION = "vouchers_console"
COOKIE = "console_session"
COOKIE_PATH = "/console/"
_OPEN = {"console.login_form", "console.login_submit"}

# Which roles may open which page (the server enforces this; the navigation only mirrors it).
DASHBOARD = frozenset(INTERNAL)
BATCHES = frozenset({ISSUER_OPERATOR, APPROVER, ADMIN, FINANCE})
REVIEW = frozenset({APPROVER})
VERIFY = frozenset({FINANCE, ADMIN})
CUSTOMERS = frozenset({CUSTOMER_SERVICE, FRAUD_ANALYST})
PORTAL = frozenset({DISTRIBUTOR})


@dataclass(frozen=True)
class ConsoleState:
    staff: StaffConfig
    seal_key: bytes  # opens staff TOTP secrets (derived from the pepper; never a signing key)


def console() -> ConsoleState:
    return current_app.extensions[EXTENSION]


def now():
    return state().config.clock()


def lang() -> str:
    requested = request.args.get("lang")
    if requested is None and request.method == "POST":
        try:
            requested = request.form.get("lang")
        except HTTPException:
            requested = None
    return pick_language(requested, request.headers.get("Accept-Language"))


def limits() -> sessions.Limits:
    config = console().staff
    return sessions.Limits(config.idle, config.absolute)


def _is_console_path() -> bool:
    return request.path == "/console" or request.path.startswith("/console/")


def gate() -> Response | None:
    """Before every request: a ``/console/`` path other than the login form needs a live session."""
    if not _is_console_path() or request.endpoint in _OPEN:
        return None
    if isinstance(request.routing_exception, MethodNotAllowed):  # a method no page takes: 405, as for anyone
        return None
    token = request.cookies.get(COOKIE)
    who = None
    if token:
        with state().sessions.begin() as s:
            who = sessions.resume(s, token, now=now(), limits=limits(), kind="web")
    if who is None:
        response = redirect(url_for("console.login_form", lang=request.args.get("lang")), code=303)
        if token:
            response.delete_cookie(COOKIE, path=COOKIE_PATH)
        return response
    g.console = who
    return None


def csrf_token() -> str:
    """Bound to the session (an HMAC of its id); before login, a random token in the signed page cookie."""
    who = g.get("console")
    if who is not None:
        return hmac.new(state().csrf_secret, ("console:" + who.session_id).encode(), hashlib.sha256).hexdigest()
    token = session.get("console_csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = session["console_csrf"] = secrets.token_urlsafe(32)
    return token


def csrf_ok() -> bool:
    given = request.form.get("csrf_token", "")
    return bool(given) and hmac.compare_digest(csrf_token().encode(), given.encode())


def allowed(roles: frozenset[str]) -> bool:
    who = g.get("console")
    return who is not None and bool(who.staff.roles & roles)


def page(template: str, status: int = 200, **context) -> Response:
    language = lang()
    t = TEXT[language]
    if "error" in context and context["error"] in t:
        context["error_code"] = context["error"]
        context["error"] = t[context["error"]].format(seconds=context.get("retry_after") or 0)
    who = g.get("console")
    html = render_template(f"console/{template}", t=t, lang=language, other="en" if language == "zh" else "zh",
                           who=who, csrf_token=csrf_token(),
                           nav=_nav(who) if who is not None else [], **context)
    response = make_response(html, status)
    response.headers["Cache-Control"] = "no-store"
    return response


# Further pages add (endpoint, text key, roles) here when their module is imported.
NAV_EXTRA: list[tuple[str, str, frozenset[str]]] = []


def _nav(who: sessions.Resumed) -> list[tuple[str, str]]:
    links = [("console.dashboard", "dashboard", DASHBOARD), ("console.batches", "batches", BATCHES),
             ("console.customers", "customers", CUSTOMERS), ("console.portal", "distributor", PORTAL),
             ("console.requests_page", "requests", frozenset({ISSUER_OPERATOR, APPROVER, ADMIN})), *NAV_EXTRA]
    return [(endpoint, label) for endpoint, label, roles in links if who.staff.roles & roles]


def refuse(status: int, code: str) -> Response:
    return page("error.html", status, error=code)
