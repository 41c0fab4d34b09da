"""The redemption as the API sees it: attempts, throttling, failure side effects, error mapping.

The use case itself (account query, claim, books, STS token, outbox, audit)
is :func:`vouchers.services.redeem.redeem`; this module puts the web's
concerns around it, in the caller's transaction
(:mod:`redeem_api.routes.redemptions`, which also holds the API key check
and the Idempotency-Key reservation, and commits once):

* typos are refused before any lookup (:func:`check_code_format`), a locked
  out client, IP or account before the attempt (:func:`check_throttle`);
* the service's domain refusals become API errors: every refusal of a
  well-formed code is the same ``invalid_voucher``; the reason is kept only
  for metrics and fraud alerts, which are written after the rollback together
  with the failure counters (:func:`_failure`).
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from redeem_api.config import ThrottleLimits
from redeem_api.errors import ApiError, InvalidVoucher, TooManyAttempts, UnknownAccount, token_refused
from vouchers.vending.errors import VendingError
from vouchers.codes import normalize_code
from vouchers.errors import InvalidCode
from vouchers.keyring import KeyRing
from vouchers.services import fraud
from vouchers.services import redeem as service
from vouchers.services.clients import ClientInfo
from vouchers.services.deps import ServiceDeps
from vouchers.services.errors import RedemptionRefused, TokenRefused, UnknownPayee
from vouchers.services.throttle import Limit, Throttle, account_key, client_key, ip_key
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
        if with_account:
            result.append(Limit(account_key(attempt.account_no), limits.account_failures))
    elif attempt.channel == "web":
        result.append(Limit(ip_key(attempt.ip or "unknown"), limits.web_ip_failures))
        if with_account:
            result.append(Limit(account_key(attempt.account_no), limits.web_account_failures))
    else:
        assert attempt.client is not None
        result.append(Limit(client_key(attempt.client.client_id), limits.client_failures))
        if with_account:
            result.append(Limit(account_key(attempt.account_no), limits.account_failures))
    return result


def check_throttle(session: Session, attempt: Attempt, ctx: Context) -> None:
    wait = ctx.throttle.retry_after(session, limits_for(attempt, ctx.limits), ctx.now)
    if wait is not None:
        raise TooManyAttempts(wait)


def _failure(attempt: Attempt, ctx: Context, *, account_exists: bool = True, alert: str | None = None,
             serial: str | None = None, voucher_status: str | None = None) -> Callable[[Session], None]:
    """Side effects of a failed attempt, run after the rollback: counters, then alerts."""

    def effects(session: Session) -> None:
        limits = limits_for(attempt, ctx.limits, with_account=account_exists)
        newly_locked = ctx.throttle.record_failure(session, limits, ctx.now)
        common = dict(channel=attempt.channel, client_id=attempt.client.client_id if attempt.client else None,
                      ip=attempt.ip, account_no=attempt.account_no if account_exists else None)
        if alert is not None:
            fraud.record_alert(session, now=ctx.now, kind=alert, serial=serial, voucher_status=voucher_status,
                               **common)
            log.warning("fraud alert %s: serial %s (%s) via %s", alert, serial, voucher_status, attempt.channel)
        for key in newly_locked:
            fraud.record_alert(session, now=ctx.now, kind=fraud.LOCKOUT, details={"subject": key}, **common)
            log.warning("throttle lockout of %s", key)

    return effects


def redeem(session: Session, attempt: Attempt, ctx: Context) -> dict[str, object]:
    """Redeem inside the caller's transaction; returns the 201 document (a held one: ``status: held``, 202)
    or raises an ApiError.

    On a refusal the caller rolls the transaction back (which also undoes a claim made by the service).
    """
    request = service.RedeemRequest(attempt.code_text, attempt.account_no, attempt.channel, attempt.actor,
                                    attempt.client.pk if attempt.client else None,
                                    attempt.client.client_id if attempt.client else None)
    keys = service.VoucherKeys(ctx.pepper, ctx.keyring, ctx.canaries)
    try:
        return service.redeem(session, request, keys=keys, deps=ctx.services, now=ctx.now,
                              today=ctx.today).document
    except RedemptionRefused as e:
        raise _refusal(e, attempt, ctx) from e
    except VendingError as e:
        raise token_refused(e) from e


def _refusal(refused: RedemptionRefused, attempt: Attempt, ctx: Context) -> ApiError:
    """The API's answer to a refusal; counters and alerts go with it, to be written after the rollback."""
    effects = None
    if refused.counted:
        effects = _failure(attempt, ctx, account_exists=not isinstance(refused, UnknownPayee), alert=refused.alert,
                           serial=refused.serial, voucher_status=refused.voucher_status)
    if isinstance(refused, UnknownPayee):
        return UnknownAccount(str(refused), after_rollback=effects)
    if isinstance(refused, TokenRefused):
        return ApiError(str(refused), status=422, code="invalid_token", after_rollback=effects)
    return InvalidVoucher(after_rollback=effects)
