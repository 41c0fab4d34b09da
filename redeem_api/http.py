"""Request plumbing shared by the blueprints: auth and roles, JSON bodies,
responses, and the idempotent execution of a write."""
from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import math
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Response, g, request
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from redeem_api.errors import (
    ApiError,
    Forbidden,
    IdempotencyInFlight,
    IdempotencyKeyRequired,
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
    MalformedJson,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
)
from redeem_api import request_log
from redeem_api.state import db, state
from vouchers.books.retry import is_retryable
from vouchers.services import idempotency
from vouchers.services.clients import ClientInfo, authenticate

log = logging.getLogger(__name__)
ROLES = ("terminal", "distributor", "channel", "finance", "admin", "headend", "service", "sms_gateway")
_ACCOUNT_NO = re.compile(r"[0-9A-Za-z][0-9A-Za-z\-]{0,31}")
# A \uD800-\uDFFF escape: the only way a lone surrogate (not encodable as UTF-8) gets into a decoded body.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


# -- time -------------------------------------------------------------------------
def now() -> dt.datetime:
    """The request's clock reading, taken once per request."""
    value = g.get("_now")
    if value is None:
        value = g._now = state().config.clock()
    return value


def today() -> dt.date:
    return state().config.settings.local_date(now())


# -- responses ------------------------------------------------------------------------
def dumps(document: Any) -> str:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def json_response(status: int, document: Any | str, headers: dict[str, str] | None = None) -> Response:
    body = document if isinstance(document, str) else dumps(document)
    response = Response(body, status=status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    for k, v in (headers or {}).items():
        response.headers[k] = v
    return response


# On every answer: the app's after_request adds them, and so do the server's own error answers
# (redeem_api.server_errors), which never reach the app.
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}


def current_request_id() -> str:
    """The request's id (``X-Request-Id``): set first thing by the app's before_request hook."""
    value = g.get("request_id")
    if value is None:  # an error before the hooks ran
        value = g.request_id = request_log.new_request_id()
    return value


def error_document(error: ApiError) -> dict[str, Any]:
    """The error's body with the request's id (``error.request_id``), so a caller can quote the log line.
    A refusal stored for an Idempotency-Key keeps the id of the request that made it: a replay answers the
    same bytes (its ``X-Request-Id`` header is its own)."""
    document = error.body()
    document["error"]["request_id"] = current_request_id()
    return document


def error_response(error: ApiError) -> Response:
    return json_response(error.status, error_document(error), error.headers)


# -- auth ---------------------------------------------------------------------------------
def current_client() -> ClientInfo:
    client = g.get("_client")
    if client is None:
        raise Unauthorized()
    return client


def bearer_client(session: Session) -> ClientInfo:
    """The client of the request's bearer key, looked up in ``session``'s current transaction (401 if none)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized()
    token = token.strip()
    cache = state().clients  # VOUCHER_API_KEY_CACHE_SECONDS: a key checked moments ago is not asked again
    if cache is not None and (client := cache.get(token, now())) is not None:
        return client
    client = authenticate(session, token)
    if client is None:
        raise Unauthorized("the API key is invalid or revoked")
    if cache is not None:
        cache.put(token, client, now())
    return client


def _authenticate() -> ClientInfo:
    session = db()
    with session.begin():
        return bearer_client(session)


def require_roles(*roles: str) -> Callable:
    """Route decorator: a valid key of one of ``roles`` (401 without a valid key, 403 for another role)."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {unknown}")

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            client = _authenticate()
            g._client = client
            if client.role not in roles:
                raise Forbidden(f"the {client.role} role may not call this route")
            return view(*args, **kwargs)

        wrapper.allowed_roles = tuple(roles)  # type: ignore[attr-defined]
        return wrapper

    return decorate


# -- request bodies -------------------------------------------------------------------------
def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    """A JSON number with a fraction or exponent: refused when it has no finite float value (``1e309`` is
    infinity to Python, as NaN is refused by :func:`_no_constants`): anywhere in the body, used or not."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("a number out of range is not valid JSON here")
    return value


def loads(text: str) -> Any:
    """The API's one JSON parser: duplicate keys, NaN/Infinity and non-finite numbers are ValueError."""
    return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants,
                      parse_float=_finite_float)


def _has_lone_surrogate(document: Any) -> bool:
    """True if a decoded string (key or value) holds a surrogate that no pair completed."""
    try:
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def read_json_object() -> dict[str, Any]:
    """The body as a JSON object: 415 for another content type, 413 over the limit, 400 if malformed
    (including a lone surrogate escaped as ``\\ud800``: it has no UTF-8 form, so nothing may store it, and a
    number with no finite value such as ``1e309``, even in a field the route ignores)."""
    mimetype = (request.mimetype or "").lower()
    if mimetype != "application/json" and not (mimetype.startswith("application/") and mimetype.endswith("+json")):
        raise UnsupportedMediaType("send the body as JSON with Content-Type: application/json")
    limit = state().config.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"the body is larger than {limit} bytes")
    raw = request.get_data(cache=True)
    if len(raw) > limit:
        raise PayloadTooLarge(f"the body is larger than {limit} bytes")
    if request.content_length is None and len(raw) >= limit:
        # A chunked body (no Content-Length) is cut at the limit by Werkzeug's stream without an error:
        # anything left in the server's input stream means the body was larger.
        try:
            more = request.environ["wsgi.input"].read(1)
        except (OSError, ValueError):
            more = b"?"
        if more:
            raise PayloadTooLarge(f"the body is larger than {limit} bytes")
    try:
        text = raw.decode("utf-8")
        document = loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise MalformedJson("the body is not valid UTF-8 JSON") from e
    if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(document):
        raise MalformedJson("the body is not valid UTF-8 JSON (a \\u escape of a lone surrogate)")
    if not isinstance(document, dict):
        raise MalformedJson("the body must be a JSON object")
    return document


def text_field(body: dict[str, Any], name: str, *, max_length: int, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise ValidationFailed(f"{name} is required")
        return None
    if not isinstance(value, str):
        raise ValidationFailed(f"{name} must be a string")
    if not value.strip() or len(value) > max_length:
        raise ValidationFailed(f"{name} must be 1..{max_length} characters")
    return value


def account_no_field(body: dict[str, Any], name: str = "account_no") -> str:
    value = text_field(body, name, max_length=64)
    assert value is not None
    if not _ACCOUNT_NO.fullmatch(value):
        raise ValidationFailed(f"{name} must be 1-32 ASCII letters, digits or dashes")
    return value


def valid_account_no(value: str) -> bool:
    return bool(_ACCOUNT_NO.fullmatch(value))


def client_ip() -> str:
    return (request.remote_addr or "unknown")[:64]


# -- idempotent writes -----------------------------------------------------------------------
Handler = Callable[[Session], tuple[int, dict[str, Any]]]


def _in_transaction(work: Callable[[Session], Any], attempts: int = 3) -> Any:
    session = db()
    for attempt in range(1, attempts + 1):
        try:
            with session.begin():
                return work(session)
        except DBAPIError as e:
            if attempt == attempts or not is_retryable(e):
                raise
            log.warning("retrying a transaction after %s (attempt %d)", type(e.orig).__name__, attempt)
    raise AssertionError("unreachable")  # pragma: no cover


MAX_IDEMPOTENCY_KEY_LENGTH = 255


def parse_idempotency_key(header: str | None) -> str:
    """The key from the header: 1..255 visible ASCII characters; an sf-string's quotes are dropped."""
    if header is None or header.strip() == "":
        raise IdempotencyKeyRequired("the Idempotency-Key header is required for this request")
    key = header.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not (1 <= len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH) or not all("\x21" <= ch <= "\x7e" for ch in key):
        raise InvalidIdempotencyKey(
            f"Idempotency-Key must be 1..{MAX_IDEMPOTENCY_KEY_LENGTH} visible ASCII characters")
    return key


@contextmanager
def idempotency_refusals() -> Iterator[None]:
    """The key store's refusals as the API answers them: 409 (retry in a second) and 422."""
    try:
        yield
    except idempotency.KeyInFlight as e:
        raise IdempotencyInFlight(str(e), headers={"Retry-After": "1"}) from e
    except idempotency.KeyReused as e:
        raise IdempotencyKeyReused(str(e)) from e


def run_idempotent(*, scope: str, client_pk: int | None, key: str, body: dict[str, Any], route: str,
                   handler: Handler, precheck: Callable[[Session], None] | None = None) -> tuple[int, str, bool]:
    """Run ``handler`` at most once per (scope, key); returns (status, body text, replayed).

    ``precheck`` (the throttle) runs in the reservation's transaction once the
    key is claimed (a replay of a finished request is never throttled). The
    handler runs in one transaction together with the storing of its
    response. A refusal (:class:`ApiError`) rolls the work
    back; if it is ``storable`` it is stored for replays (with its
    ``after_rollback`` side effects, in a second transaction), else the key is
    released.
    """
    st = state()
    at = now()
    fp = idempotency.fingerprint(st.fingerprint_secret, request.method, route, body)
    stale = dt.timedelta(seconds=st.config.idempotency_stale_seconds)

    def reserve(session: Session) -> idempotency.Reserved | idempotency.Replay:
        with idempotency_refusals():
            result = idempotency.reserve(session, scope=scope, client_pk=client_pk, key=key, fingerprint=fp,
                                         now=at, stale_after=stale)
        if isinstance(result, idempotency.Reserved) and precheck is not None:
            precheck(session)  # raising rolls the reservation back with it
        return result

    reservation = _in_transaction(reserve)
    if isinstance(reservation, idempotency.Replay):
        return reservation.status, reservation.body, True
    record_id = reservation.record_id

    def work(session: Session) -> tuple[int, str]:
        status, document = handler(session)
        text = dumps(document)
        with idempotency_refusals():
            idempotency.complete(session, record_id, status=status, body=text, now=at)
        return status, text

    try:
        status, text = _in_transaction(work)
        return status, text, False
    except ApiError as e:
        refusal = e
        if refusal.storable:
            text = dumps(error_document(refusal))

            def store(session: Session) -> None:
                if refusal.after_rollback is not None:
                    refusal.after_rollback(session)
                with idempotency_refusals():
                    idempotency.complete(session, record_id, status=refusal.status, body=text, now=at)

            _in_transaction(store)
        else:
            _release(record_id, at, refusal.after_rollback)
        raise
    except BaseException:
        _release(record_id, at, None)
        raise


def _release(record_id: int, reserved_at: dt.datetime, side_effects: Callable[[Session], None] | None
             ) -> None:
    def work(session: Session) -> None:
        if side_effects is not None:
            side_effects(session)
        idempotency.release(session, record_id, reserved_at)

    try:
        _in_transaction(work)
    except Exception:  # the database is gone: the reservation goes stale and is taken over later
        log.warning("could not release an idempotency reservation", exc_info=True)


def run_side_effects(work: Callable[[Session], None]) -> None:
    """Failure counters / alerts for a refusal outside the idempotent path."""
    _in_transaction(work)
