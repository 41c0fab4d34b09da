"""``POST /api/v1/redemptions`` (terminal role) and the redemption runner shared with the web page.

The hot path is ONE database transaction (one commit, one WAL flush): the
API key check, the Idempotency-Key reservation (held by an advisory lock while
the transaction runs, see :mod:`vouchers.services.idempotency`), the attempt
counted by the throttle (:func:`redeem_api.redemption.acquire`: on PostgreSQL
and Redis committed at once by one atomic statement, so every worker sees it),
the redemption itself (:func:`redeem_api.redemption.redeem`, over
:func:`vouchers.services.redeem.redeem`) inside a savepoint, the count given back,
and the stored response. A refusal rolls the savepoint back (the claim, the
books) and commits the rest: the counted failure, fraud alerts and, if it is
replayable, the stored refusal. So no other attempt of the same subject can
slip in between a failure and its count.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import TypeVar

from flask import Blueprint, g, request
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from redeem_api.errors import ApiError, Forbidden
from redeem_api.http import (
    account_no_field,
    bearer_client,
    client_ip,
    dumps,
    error_document,
    idempotency_refusals,
    json_response,
    now,
    parse_idempotency_key,
    read_json_object,
    text_field,
    today,
)
from vouchers.token import token_from_scan
from vouchers.books.retry import is_retryable
from redeem_api.redemption import Attempt, Context, acquire, check_code_format, redeem
from redeem_api.state import db, state
from vouchers.services import idempotency
from vouchers.storage.commit_hooks import savepoint
from vouchers.services.clients import ClientInfo

log = logging.getLogger(__name__)
bp = Blueprint("redemptions", __name__, url_prefix="/api/v1")
T = TypeVar("T")
OnRedeemed = Callable[[Session, dict], None]
ROUTE = "POST /api/v1/redemptions"

_OUTCOMES = {
    "invalid_voucher": "invalid_voucher", "invalid_code_format": "invalid_code_format",
    "invalid_token": "invalid_token", "unknown_account": "unknown_account", "too_many_attempts": "throttled",
    "challenge_required": "throttled",
}


def context() -> Context:
    st = state()
    return Context(pepper=st.pepper, keyring=st.keyring.get(), throttle=st.throttle, limits=st.config.throttle,
                   canaries=st.config.canary_serials, now=now(), today=today(), services=st.services)


def in_one_transaction(session: Session, work: Callable[[Session], T], attempts: int = 3) -> T:
    """``work`` in one transaction (the one already begun on ``session``, if any), then COMMIT.

    Rolled back on any exception; run again from scratch on a deadlock or
    serialization failure (nothing of the failed attempt survives the rollback).
    """
    for attempt in range(1, attempts + 1):
        if not session.in_transaction():
            session.begin()
        try:
            result = work(session)
            session.commit()
            return result
        except DBAPIError as e:
            session.rollback()
            if attempt == attempts or not is_retryable(e):
                raise
            log.warning("retrying a redemption after %s (attempt %d)", type(e.orig).__name__, attempt)
        except BaseException:
            session.rollback()
            raise
    raise AssertionError("unreachable")  # pragma: no cover


def _redeem_idempotently(attempt: Attempt, ctx: Context, *, scope: str, client_pk: int | None, key: str,
                         body: dict, route: str, on_redeemed: OnRedeemed | None = None) -> tuple[int, str, bool]:
    """(status, body text, replayed): at most one redemption per (scope, key), in one transaction."""
    st = state()
    fingerprint = idempotency.fingerprint(st.fingerprint_secret, request.method, route, body)
    stale = dt.timedelta(seconds=st.config.idempotency_stale_seconds)
    held = dict(scope=scope, client_pk=client_pk, key=key, fingerprint=fingerprint, now=ctx.now, stale_after=stale)

    def work(session: Session) -> tuple[int, str, bool] | ApiError:
        with idempotency_refusals():
            reserved = idempotency.reserve_in_transaction(session, **held)
        if isinstance(reserved, idempotency.Replay):  # a finished request: never throttled, never redone
            return reserved.status, reserved.body, True
        ticket = acquire(session, attempt, ctx)
        try:
            try:
                with savepoint(session):
                    document = redeem(session, attempt, ctx, ticket)
                    status = 202 if document.get("status") == "held" else 201  # held for fraud review
                    if on_redeemed is not None and status == 201:  # the channel's own record, same transaction
                        on_redeemed(session, document)
                    text = dumps(document)
            except ApiError as refused:
                if not refused.storable:
                    raise
                # the attempt's work is undone; its count, alerts and stored refusal commit together
                if refused.after_rollback is not None:
                    refused.after_rollback(session)
                else:
                    ctx.throttle.release(session, ticket)
                with idempotency_refusals():
                    idempotency.complete(session, reserved.record_id, status=refused.status,
                                         body=dumps(error_document(refused)), now=ctx.now)
                return refused
            ctx.throttle.release(session, ticket)  # a success is no failure
            with idempotency_refusals():
                idempotency.complete(session, reserved.record_id, status=status, body=text, now=ctx.now)
            return status, text, False
        except BaseException:
            ctx.throttle.abandon(ticket)  # the transaction rolls back: give back what it does not undo
            raise

    session = db()
    try:
        result = in_one_transaction(session, work)
    except ApiError as e:
        refusal = e  # outlives the except clause, for the closure below
        if refusal.after_rollback is None and not refusal.storable:
            raise  # 409/422 key refusals, 429: nothing to write
        text = dumps(error_document(refusal))

        def afterwards(session: Session) -> None:
            if refusal.after_rollback is not None:  # failure counters and fraud alerts
                refusal.after_rollback(session)
            if refusal.storable:  # the same request with the same key gets the same refusal
                with idempotency_refusals():
                    idempotency.store_refusal(session, **held, status=refusal.status, body=text)

        in_one_transaction(session, afterwards)
        raise
    if isinstance(result, ApiError):
        raise result
    return result


def perform_redemption(attempt: Attempt, *, scope: str, client_pk: int | None, key: str, body: dict,
                       route: str, on_redeemed: OnRedeemed | None = None) -> tuple[int, str, bool]:
    """Format check, then the idempotent redemption (throttle check included); counts the outcome.

    ``on_redeemed(session, document)`` runs in the redemption's transaction after a success (the SMS
    top-up's reply to its sender): it commits with the redemption or not at all."""
    metrics = state().metrics
    try:
        check_code_format(attempt)
        status, text, replayed = _redeem_idempotently(attempt, context(), scope=scope, client_pk=client_pk, key=key,
                                                      body=body, route=route, on_redeemed=on_redeemed)
    except ApiError as e:
        metrics.count_redemption(_OUTCOMES.get(e.code, "error" if e.status >= 500 else "rejected"))
        raise
    except Exception:
        metrics.count_redemption("error")
        raise
    metrics.count_redemption("replayed" if replayed else "redeemed" if status == 201 else "held" if status == 202
                             else "rejected")
    return status, text, replayed


def _terminal(session: Session) -> ClientInfo:
    """``require_roles("terminal")``, but the key is checked in the redemption's own transaction
    (begun here and committed with the redemption): no transaction of its own."""
    if not session.in_transaction():
        session.begin()
    client = bearer_client(session)
    g._client = client
    if client.role != "terminal":
        raise Forbidden(f"the {client.role} role may not call this route")
    return client


@bp.post("/redemptions")
def create_redemption():
    client = _terminal(db())
    body = read_json_object()
    key = parse_idempotency_key(request.headers.get("Idempotency-Key"))
    code_text = text_field(body, "code", max_length=1024)
    account_no = account_no_field(body)
    assert code_text is not None
    # a terminal scanning a card sends what the QR holds: the redeem URL with the token as its fragment
    attempt = Attempt(token_from_scan(code_text.strip()), account_no, "terminal", client, client_ip())
    status, text, replayed = perform_redemption(attempt, scope=f"client:{client.pk}", client_pk=client.pk, key=key,
                                                body=body, route=ROUTE)
    return json_response(status, text, {"Idempotent-Replayed": "true"} if replayed else None)


create_redemption.allowed_roles = ("terminal",)  # type: ignore[attr-defined]  # read by the role tests / docs
