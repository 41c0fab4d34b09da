"""The redemption as the API sees it: attempts, throttling, failure side effects, error mapping.

The use case itself (account query, claim, books, STS token, outbox, audit)
is :func:`vouchers.services.redeem.redeem`; this module puts the web's
concerns around it, in the caller's transaction
(:mod:`redeem_api.routes.redemptions`, which also holds the API key check
and the Idempotency-Key reservation, and commits once):

* typos are refused before any lookup (:func:`check_code_format`);
* every other attempt is counted before it is made (:func:`acquire`: one atomic
  statement or script refuses it if its client, IP or account is locked out,
  or asks a busy web address for a proof of work); a success gives the count back;
* the service's domain refusals become API errors: every refusal of a
  well-formed code is the same ``invalid_voucher``; the reason is kept only
  for metrics and fraud alerts, which are written after the attempt's own work
  is rolled back (to a savepoint), in the same transaction (:func:`_failure`).
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from flask import Response, after_this_request, has_request_context
from sqlalchemy.orm import Session

from redeem_api.config import ThrottleLimits
from redeem_api.errors import (ApiError, ChallengeRequired, InvalidVoucher, TooManyAttempts, UnknownAccount,
                               token_refused)
from vouchers.vending.errors import VendingError
from vouchers.codes import normalize_code
from vouchers.errors import InvalidCode
from vouchers.keyring import KeyRing
from vouchers.services import fraud
from vouchers.services import redeem as service
from vouchers.services.clients import ClientInfo
from vouchers.services.deps import ServiceDeps
from vouchers.services.errors import RedemptionRefused, TokenRefused, UnknownPayee
from vouchers.services.throttle import Limit, Locked, Throttle, Ticket, account_key, client_key, ip_key
from vouchers.token import PREFIX

log = logging.getLogger(__name__)
MAX_CODE_INPUT = 1024


@dataclass(frozen=True)
class Attempt:
    """Who tries which code on which account, through which channel."""

    code_text: str
    account_no: str
    channel: str  # "terminal" | "web" | "sms"
    client: ClientInfo | None
    ip: str | None
    pow_bits: int = 0  # leading zero bits of a verified, spent proof of work sent with a web attempt
    sender: str | None = None  # "sms": the phone number that sent the top-up (throttled like a client)

    @property
    def actor(self) -> str:
        return self.client.actor if self.client is not None else f"web:{self.ip or 'unknown'}"

    @property
    def is_token(self) -> bool:
        return self.code_text.startswith(PREFIX)


@dataclass(frozen=True)
class Context:
    pepper: bytes
    keyring: KeyRing
    throttle: Throttle
    limits: ThrottleLimits
    canaries: frozenset[str]
    now: dt.datetime
    today: dt.date
    services: ServiceDeps


def check_code_format(attempt: Attempt) -> None:
    """Typos are refused before any lookup and cost no attempt (the Damm check digit)."""
    if attempt.is_token:
        if len(attempt.code_text) > MAX_CODE_INPUT:
            raise ApiError("the scanned token is too long", status=422, code="invalid_token")
        return
    try:
        normalize_code(attempt.code_text)
    except InvalidCode as e:
        raise ApiError(str(e), status=422, code=InvalidCode.code) from e


def sender_key(number: str) -> str:
    """``sms:<number>``: the failure counter of one phone texting top-ups (the gateway itself is not counted:
    one guesser must not stop every SMS customer)."""
    return f"sms:{number}"


def limits_for(attempt: Attempt, limits: ThrottleLimits, *, with_account: bool = True) -> list[Limit]:
    result = []
    if attempt.channel == "sms":
        result.append(Limit(sender_key(attempt.sender or "unknown"), limits.sms_sender_failures))
        if with_account:  # the SMS channel's own counter on the account: texts never lock it at a till
            result.append(Limit(account_key(attempt.account_no, "sms"), limits.account_failures))
    elif attempt.channel == "web":
        result.append(Limit(ip_key(attempt.ip or "unknown"), limits.web_ip_failures))
        if with_account:
            result.append(Limit(account_key(attempt.account_no, "web"), limits.web_account_failures))
    else:
        assert attempt.client is not None
        result.append(Limit(client_key(attempt.client.client_id), limits.client_failures))
        if with_account:
            result.append(Limit(account_key(attempt.account_no), limits.account_failures))
    return result


def acquire(session: Session, attempt: Attempt, ctx: Context) -> Ticket:
    """Count the attempt before making it; 429 if a subject is locked out (nothing counted).

    A web attempt from an address past ``web_ip_challenge_after`` failures must carry a proof of
    work of the difficulty its count asks for (else 429 ``challenge_required``, uncounted).
    """
    try:
        ticket = ctx.throttle.acquire(session, limits_for(attempt, ctx.limits), ctx.now)
    except Locked as e:
        raise TooManyAttempts(e.retry_after) from e
    if attempt.channel == "web":
        bits = ctx.limits.pow_bits(ticket.count(ip_key(attempt.ip or "unknown")))
        if bits > attempt.pow_bits:
            ctx.throttle.release(session, ticket)
            raise ChallengeRequired(bits)
    return ticket


def _failure(attempt: Attempt, ctx: Context, ticket: Ticket, *, account_exists: bool = True,
             alert: str | None = None, serial: str | None = None,
             voucher_status: str | None = None) -> Callable[[Session], None]:
    """Side effects of a failed attempt, after its work was rolled back: the count stands, then alerts."""

    def effects(session: Session) -> None:
        if not account_exists:  # no such account: its counter is not the place for this failure
            everyone = {lim.key for lim in limits_for(attempt, ctx.limits)}
            ctx.throttle.release(session, ticket,
                                 everyone - {lim.key for lim in limits_for(attempt, ctx.limits, with_account=False)})
        newly_locked = ticket.newly_locked()
        common = dict(channel=attempt.channel, client_id=attempt.client.client_id if attempt.client else None,
                      ip=attempt.ip, account_no=attempt.account_no if account_exists else None)
        # the same statement whatever the reason (a row only for an alert), its log line after the answer
        fraud.record_alert_if_any(session, now=ctx.now, kind=alert, serial=serial, voucher_status=voucher_status,
                                  **common)
        if alert is not None:
            _after_answer(log.warning, "fraud alert %s: serial %s (%s) via %s", alert, serial, voucher_status,
                          attempt.channel)
        for key in newly_locked:
            fraud.record_alert(session, now=ctx.now, kind=fraud.LOCKOUT, details={"subject": key}, **common)
            log.warning("throttle lockout of %s", key)

    return effects


def _after_answer(fn: Callable[..., object], *args: object) -> None:
    """Run ``fn(*args)`` once the response has been sent (its cost must not show in the answer's timing)."""
    if not has_request_context():
        fn(*args)
        return

    @after_this_request
    def later(response: Response) -> Response:
        response.call_on_close(lambda: fn(*args))
        return response


def redeem(session: Session, attempt: Attempt, ctx: Context, ticket: Ticket) -> dict[str, object]:
    """Redeem inside the caller's transaction; returns the 201 document (a held one: ``status: held``, 202)
    or raises an ApiError.

    On a refusal the caller rolls the attempt's work back (which also undoes a claim made by the service),
    then runs the error's ``after_rollback`` (the count stands or is given back, alerts).
    """
    request = service.RedeemRequest(attempt.code_text, attempt.account_no, attempt.channel, attempt.actor,
                                    attempt.client.pk if attempt.client else None,
                                    attempt.client.client_id if attempt.client else None)
    keys = service.VoucherKeys(ctx.pepper, ctx.keyring, ctx.canaries)
    try:
        return service.redeem(session, request, keys=keys, deps=ctx.services, now=ctx.now,
                              today=ctx.today).document
    except RedemptionRefused as e:
        raise _refusal(e, attempt, ctx, ticket) from e
    except VendingError as e:
        error = token_refused(e)
        error.after_rollback = lambda session: ctx.throttle.release(session, ticket)  # not a guess
        raise error from e


def _refusal(refused: RedemptionRefused, attempt: Attempt, ctx: Context, ticket: Ticket) -> ApiError:
    """The API's answer to a refusal; counts and alerts go with it, written after the work is rolled back."""
    if refused.counted:
        effects = _failure(attempt, ctx, ticket, account_exists=not isinstance(refused, UnknownPayee),
                           alert=refused.alert, serial=refused.serial, voucher_status=refused.voucher_status)
    else:
        def effects(session: Session) -> None:
            ctx.throttle.release(session, ticket)
    if isinstance(refused, UnknownPayee):
        return UnknownAccount(str(refused), after_rollback=effects)
    if isinstance(refused, TokenRefused):
        return ApiError(str(refused), status=422, code="invalid_token", after_rollback=effects)
    return InvalidVoucher(after_rollback=effects)
