"""The hot path: one code (typed or scanned ``EV1:`` token) onto one account, exactly once.

Everything that changes money happens in ONE database transaction:

1. the account must exist (``unknown_account`` says nothing about the code);
2. the voucher is found by HMAC(pepper, code) - the code itself is never stored;
3. a conditional ``UPDATE vouchers SET status='redeemed' WHERE id=:id AND
   status='active' AND expires >= :today``: exactly one row or the attempt
   fails, so two concurrent redemptions cannot both win (no ``FOR UPDATE``;
   PostgreSQL re-checks the WHERE after the first writer commits, SQLite has
   one writer at a time);
4. the books post Dr voucher_liability / Cr arrears (oldest bill first),
   the rest Cr prepaid (:func:`ledger.voucher_books.redeem_voucher`);
5. the redemption row (unique per voucher: a second line of defence), the
   SMS outbox row and the audit event (last, as the audit chain serialises
   writers);
6. if the account has an STS keypad meter, the money credited to the balance
   becomes kWh (the account's tariff) and a 20-digit token for the meter
   (:mod:`vending.service`), in the same transaction: the response, the web
   page and the SMS outbox row gain an ``sts`` object. A refusal (KEN
   expired, wrong key revision, amount too large) refuses the redemption.
   The STS token is the one token the SMS payload carries on purpose: it
   works once, on that one meter only.

Every refusal of a well-formed code is the same ``invalid_voucher``; the
reason is kept only for metrics and fraud alerts, which are written after
the rollback together with the failure counters.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from ledger.errors import CurrencyMismatch, RedemptionBookingError
from ledger.voucher_books import redeem_voucher
from redeem_api import fraud
from redeem_api.clients import ClientInfo
from redeem_api.config import ThrottleLimits
from redeem_api.errors import ApiError, InvalidVoucher, TooManyAttempts, UnknownAccount
from redeem_api.sts_support import sts_fields
from redeem_api.throttle import Limit, Throttle, account_key, client_key, ip_key
from storage import audit
from storage.api_models import OutboxMessage, Redemption
from storage.ledger_models import CustomerAccount
from storage.models import Voucher
from storage.types import UTCDateTime
from vouchers.codes import code_hash_normalized, normalize_code
from vouchers.errors import BadSignature, ExpiredToken, InvalidCode, RevokedKey, TokenError, UnknownKey
from vouchers.keyring import KeyRing
from vouchers.money import format_amount
from vouchers.token import PREFIX, verify_token

log = logging.getLogger(__name__)
MAX_CODE_INPUT = 1024

# Built once: the hot path only binds values (less Python work while the books hold their locks).
_ACCOUNT = select(CustomerAccount.id, CustomerAccount.currency).where(CustomerAccount.account_no == bindparam("no"))
_VOUCHER = (select(Voucher.id, Voucher.serial, Voucher.status, Voucher.expires, Voucher.face_value, Voucher.currency)
            .where(Voucher.code_hash == bindparam("code_hash")))
_CLAIM = (update(Voucher)
          .where(Voucher.id == bindparam("vid"), Voucher.status == "active", Voucher.expires >= bindparam("today"))
          .values(status="redeemed", redeemed_at=bindparam("at", type_=UTCDateTime()),
                  updated_at=bindparam("at", type_=UTCDateTime())))
_INSERT_REDEMPTION = insert(Redemption.__table__)
_INSERT_OUTBOX = insert(OutboxMessage.__table__)


@dataclass(frozen=True)
class Attempt:
    """Who tries which code on which account, through which channel."""

    code_text: str
    account_no: str
    channel: str  # "terminal" | "web"
    client: ClientInfo | None
    ip: str | None

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


def limits_for(attempt: Attempt, limits: ThrottleLimits, *, with_account: bool = True) -> list[Limit]:
    result = []
    if attempt.channel == "web":
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


def _resolve_code(attempt: Attempt, ctx: Context) -> tuple[str, str | None]:
    """(normalised code, serial the token claims) - verifying a token's signature first."""
    if not attempt.is_token:
        return normalize_code(attempt.code_text), None
    try:
        claims = verify_token(attempt.code_text, ctx.keyring, ctx.today)
    except ExpiredToken as e:
        raise InvalidVoucher(after_rollback=_failure(attempt, ctx)) from e
    except TokenError as e:
        alert = fraud.FORGED_TOKEN if isinstance(e, (BadSignature, UnknownKey, RevokedKey)) else None
        raise ApiError("the scanned token is not a valid voucher token", status=422, code="invalid_token",
                       after_rollback=_failure(attempt, ctx, alert=alert,
                                               voucher_status=e.code if alert else None)) from e
    return claims.code, claims.serial


def redeem(session: Session, attempt: Attempt, ctx: Context) -> dict[str, object]:
    """Redeem inside the caller's transaction; returns the 201 document or raises an ApiError."""
    customer = session.execute(_ACCOUNT, {"no": attempt.account_no}).one_or_none()
    if customer is None:
        raise UnknownAccount(f"no electricity account {attempt.account_no}",
                             after_rollback=_failure(attempt, ctx, account_exists=False))
    code, token_serial = _resolve_code(attempt, ctx)
    row = session.execute(_VOUCHER, {"code_hash": code_hash_normalized(ctx.pepper, code)}).one_or_none()
    del code
    if row is None:
        raise InvalidVoucher(after_rollback=_failure(attempt, ctx))
    alert = None
    if row.serial in ctx.canaries:
        alert = fraud.CANARY_SERIAL
    elif row.status == "void":
        alert = fraud.VOID_VOUCHER
    elif row.status == "inactive":
        alert = fraud.INACTIVE_VOUCHER
    elif token_serial is not None and token_serial != row.serial:
        alert = fraud.FORGED_TOKEN
    if alert is not None or row.status != "active" or row.expires < ctx.today:
        raise InvalidVoucher(after_rollback=_failure(attempt, ctx, alert=alert, serial=row.serial,
                                                     voucher_status=row.status))
    if row.currency != customer.currency:
        raise ApiError(f"this voucher is in {row.currency} but the account is kept in {customer.currency}",
                       status=422, code="currency_mismatch")
    won = session.execute(_CLAIM, {"vid": row.id, "today": ctx.today, "at": ctx.now}).rowcount
    if won != 1:  # another request redeemed it a moment ago
        raise InvalidVoucher(after_rollback=_failure(attempt, ctx))
    try:
        booking = redeem_voucher(session, row.id, attempt.account_no, now=ctx.now, actor=attempt.actor)
    except CurrencyMismatch as e:  # pragma: no cover - checked above
        raise ApiError(str(e), status=422, code="currency_mismatch") from e
    except RedemptionBookingError as e:
        # An active card the books cannot redeem (e.g. activated outside the books): refuse alike.
        log.error("books refused the redemption of %s: %s", row.serial, e)
        raise InvalidVoucher() from e
    redemption_id = "rdm_" + secrets.token_hex(12)
    session.execute(_INSERT_REDEMPTION, {
        "redemption_id": redemption_id, "voucher_id": row.id, "serial": row.serial,
        "account_no": attempt.account_no, "amount": booking.amount, "currency": booking.currency,
        "applied_to_arrears": booking.applied_to_arrears, "credited_to_balance": booking.credited_to_balance,
        "balance_after": booking.balance, "channel": attempt.channel,
        "client_pk": attempt.client.pk if attempt.client else None,
        "ledger_transaction_id": booking.transaction_id, "redeemed_at": ctx.now})
    document: dict[str, object] = {
        "redemption_id": redemption_id,
        "serial": row.serial,
        "amount": format_amount(booking.amount),
        "currency": booking.currency,
        "account_no": attempt.account_no,
        "applied_to_arrears": format_amount(booking.applied_to_arrears),
        "credited_to_balance": format_amount(booking.credited_to_balance),
        "balance": format_amount(booking.balance),
        "redeemed_at": ctx.now.astimezone(dt.timezone.utc).isoformat(),
    }
    sts = sts_fields(session, attempt.account_no, booking.credited_to_balance, ctx.now, source="redemption",
                     source_ref=redemption_id, actor=attempt.actor)
    if sts is not None:
        document["sts"] = sts
    session.execute(_INSERT_OUTBOX, {
        "kind": "sms.voucher_redeemed", "account_no": attempt.account_no, "created_at": ctx.now, "attempts": 0,
        "payload": json.dumps({"template": "voucher_redeemed", **document}, ensure_ascii=False, sort_keys=True)})
    audit.record(session, now=ctx.now, actor=attempt.actor, action="voucher.redeem", subject_type="voucher",
                 subject_id=row.serial, from_state="active", to_state="redeemed",
                 details={"account_no": attempt.account_no, "channel": attempt.channel,
                          "redemption_id": redemption_id, "transaction_id": booking.transaction_id,
                          "amount": booking.amount, "currency": booking.currency})
    return document
