"""The hot path: one code (typed or scanned ``EV1:`` token) onto one account, exactly once.

Everything that changes money happens in ONE database transaction - the
caller's (:mod:`redeem_api.routes.redemptions`), which also holds the API key
check, the Idempotency-Key reservation, the throttle check and the stored
response, and commits once. Here, in about a dozen statements:

1. the account, its balance rows, the ``voucher_liability`` row and whether
   it has an STS meter, in one query (``unknown_account`` says nothing about
   the code);
2. the claim IS the lookup: ``UPDATE vouchers SET status='redeemed' WHERE
   code_hash = HMAC(pepper, code) AND status='active' AND expires >= :today
   AND currency = <the account's> RETURNING ...`` - exactly one request gets
   the row, so two concurrent redemptions cannot both win (no ``FOR UPDATE``:
   PostgreSQL re-checks the WHERE after the first writer commits, SQLite has
   one writer at a time). A card of another currency is never claimed: it is
   refused like an unknown code (no oracle for which stolen codes are live).
   Only if it matches nothing is the card read, to tell void / inactive /
   canary cards apart for the fraud alerts; a claimed card refused after
   all (canary, token for another serial) is given back by the rollback;
3. the books post Dr voucher_liability / Cr arrears (oldest bill first),
   the rest Cr prepaid (:func:`ledger.voucher_books.book_claimed_redemption`;
   on PostgreSQL header, postings, balances and payment row are one statement);
   around it, only for accounts the first query flagged (:mod:`metering.money_in`):
   the late fee of overdue electricity bills is posted first, and a prepaid
   account's cost-control state is read after (a reconnect order if it was cut);
4. the redemption row (unique per voucher: a second line of defence), the
   SMS outbox row and the audit event, all written at commit: on PostgreSQL
   in one round trip with the shared balances (the audit chain serialises
   writers);
5. if the account has an STS keypad meter, the money credited to the balance
   becomes kWh (the account's tariff) and a 20-digit token for the meter
   (:mod:`vending.service`), in the same transaction: the response, the web
   page and the SMS outbox row gain an ``sts`` object. A refusal (KEN
   expired, wrong key revision, amount too large) refuses the redemption.
   The STS token is the one token the SMS payload carries on purpose: it
   works once, on that one meter only.

On PostgreSQL these statements run on the driver's cursor, compiled once
(:mod:`storage.hot_sql`).

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

from ledger import chart
from ledger.errors import CurrencyMismatch, RedemptionBookingError
from ledger.voucher_books import ClaimedVoucher, Payee, RedemptionBooking, book_claimed_redemption
from metering.money_in import keypad, late_fee_pending, prepaid
from vouchers.services import fraud
from redeem_api.clients import ClientInfo
from redeem_api.config import ThrottleLimits
from redeem_api.errors import ApiError, InvalidVoucher, TooManyAttempts, UnknownAccount
from redeem_api.sts_support import add_sts
from redeem_api.throttle import Limit, Throttle, account_key, client_key, ip_key
from storage import audit, hot_sql
from storage.api_models import OutboxMessage, Redemption
from storage.commit_hooks import insert_at_commit
from storage.ledger_models import CustomerAccount, LedgerAccount
from storage.models import Voucher
from storage.types import UTCDateTime
from vouchers.codes import code_hash_normalized, normalize_code
from vouchers.errors import BadSignature, ExpiredToken, InvalidCode, RevokedKey, TokenError, UnknownKey
from vouchers.keyring import KeyRing
from vouchers.money import format_amount
from vouchers.token import PREFIX, verify_token

log = logging.getLogger(__name__)
MAX_CODE_INPUT = 1024

# Built once: the hot path only binds values (Core statements on tables, no ORM units of work).
_CA, _LA, _VT = CustomerAccount.__table__, LedgerAccount.__table__, Voucher.__table__
# The account, its two balance rows, the voucher_liability row of its currency and whether it has an
# active STS keypad meter (vending.meters.find_meter's rule): one statement for what took four.
_PAYEE = select(
    _CA.c.id, _CA.c.account_no, _CA.c.currency, _CA.c.arrears_account_id, _CA.c.prepaid_account_id,
    select(_LA.c.id).where(_LA.c.code == chart.VOUCHER_LIABILITY, _LA.c.currency == _CA.c.currency)
    .scalar_subquery().label("liability_id"),
    keypad(_CA.c.account_no).label("has_meter"),
    # kwh_document's gate (a prepaid metering account), read here instead of by a query of its own
    prepaid(_CA.c.account_no).label("prepaid"),
    # an overdue electricity bill whose late fee is to be charged before this money is allocated
    late_fee_pending(_CA.c.account_no, bindparam("today")).label("late_fee"),
).where(_CA.c.account_no == bindparam("no"))
# The claim IS the lookup: one conditional update finds the code and wins the card, or finds nothing
# (a card in another currency than the account's included: refused alike, never a currency_mismatch).
_CLAIM = (update(_VT)
          .where(_VT.c.code_hash == bindparam("h"), _VT.c.status == "active",
                 _VT.c.expires >= bindparam("today"), _VT.c.currency == bindparam("cur"))
          .values(status="redeemed", redeemed_at=bindparam("at", type_=UTCDateTime()),
                  updated_at=bindparam("at", type_=UTCDateTime()))
          .returning(_VT.c.id, _VT.c.serial, _VT.c.face_value, _VT.c.currency, _VT.c.activated_at))
# Only when the claim found nothing: why (for the fraud alerts)?
_VOUCHER = (select(_VT.c.id, _VT.c.serial, _VT.c.status, _VT.c.expires)
            .where(_VT.c.code_hash == bindparam("h")))
# Rows nobody reads back: no RETURNING, sent with the commit (storage.commit_hooks.insert_at_commit).
_INSERT_REDEMPTION = insert(Redemption.__table__).inline()
_INSERT_OUTBOX = insert(OutboxMessage.__table__).inline()


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


def _refuse_unclaimed(session: Session, attempt: Attempt, ctx: Context, code_hash: bytes,
                      token_serial: str | None) -> ApiError:
    """The claim found no active, valid card: the same ``invalid_voucher`` for every reason (alerts aside)."""
    row = session.execute(_VOUCHER, {"h": code_hash}).one_or_none()
    if row is None:
        return InvalidVoucher(after_rollback=_failure(attempt, ctx))
    alert = None
    if row.serial in ctx.canaries:
        alert = fraud.CANARY_SERIAL
    elif row.status == "void":
        alert = fraud.VOID_VOUCHER
    elif row.status == "inactive":
        alert = fraud.INACTIVE_VOUCHER
    elif token_serial is not None and token_serial != row.serial:
        alert = fraud.FORGED_TOKEN
    return InvalidVoucher(after_rollback=_failure(attempt, ctx, alert=alert, serial=row.serial,
                                                  voucher_status=row.status))


def redeem(session: Session, attempt: Attempt, ctx: Context) -> dict[str, object]:
    """Redeem inside the caller's transaction; returns the 201 document or raises an ApiError.

    On a refusal the caller rolls the transaction back (which also undoes a claim made here).
    """
    payee = hot_sql.one_or_none(session, _PAYEE, {"no": attempt.account_no, "today": ctx.today})
    if payee is None:
        raise UnknownAccount(f"no electricity account {attempt.account_no}",
                             after_rollback=_failure(attempt, ctx, account_exists=False))
    code, token_serial = _resolve_code(attempt, ctx)
    code_hash = code_hash_normalized(ctx.pepper, code)
    del code
    row = hot_sql.one_or_none(session, _CLAIM, {"h": code_hash, "today": ctx.today, "at": ctx.now,
                                                 "cur": payee.currency})
    if row is None:  # unknown, not active, expired, another currency, or redeemed a moment ago by another request
        raise _refuse_unclaimed(session, attempt, ctx, code_hash, token_serial)
    # Refusals of a card we have just claimed: the rollback gives it back.
    alert = None
    if row.serial in ctx.canaries:
        alert = fraud.CANARY_SERIAL
    elif token_serial is not None and token_serial != row.serial:
        alert = fraud.FORGED_TOKEN
    if alert is not None:
        raise InvalidVoucher(after_rollback=_failure(attempt, ctx, alert=alert, serial=row.serial,
                                                     voucher_status="active"))
    if payee.late_fee:  # metering.money_in: the late fee up to today first, so this money pays it too
        _money_in(session, attempt.account_no, ctx, late_fee=True)
    try:
        booking = book_claimed_redemption(
            session, ClaimedVoucher(row.id, row.serial, row.face_value, row.currency, row.activated_at),
            Payee(payee.id, payee.account_no, payee.currency, payee.arrears_account_id, payee.prepaid_account_id),
            now=ctx.now, actor=attempt.actor, liability_account_id=payee.liability_id)
    except (CurrencyMismatch, RedemptionBookingError) as e:
        # An active card the books cannot redeem (e.g. activated outside the books; the currency is
        # already in the claim's WHERE): refuse alike.
        log.error("books refused the redemption of %s: %s", row.serial, e)
        raise InvalidVoucher() from e
    if payee.prepaid and not payee.has_meter:  # cost control: a reconnect order goes out with the money
        _money_in(session, attempt.account_no, ctx, late_fee=False)
    redemption_id = "rdm_" + secrets.token_hex(12)
    insert_at_commit(session, _INSERT_REDEMPTION, {
        "redemption_id": redemption_id, "voucher_id": row.id, "serial": row.serial,
        "account_no": attempt.account_no, "amount": booking.amount, "currency": booking.currency,
        "applied_to_arrears": booking.applied_to_arrears, "credited_to_balance": booking.credited_to_balance,
        "balance_after": booking.balance, "channel": attempt.channel,
        "client_pk": attempt.client.pk if attempt.client else None,
        "ledger_transaction_id": booking.transaction_id, "redeemed_at": ctx.now})
    document = success_document(session, attempt, ctx, booking, redemption_id, has_meter=bool(payee.has_meter),
                                prepaid=bool(payee.prepaid))
    insert_at_commit(session, _INSERT_OUTBOX, {
        "kind": "sms.voucher_redeemed", "account_no": attempt.account_no, "created_at": ctx.now, "attempts": 0,
        "payload": json.dumps({"template": "voucher_redeemed", **document}, ensure_ascii=False, sort_keys=True)})
    audit.record(session, now=ctx.now, actor=attempt.actor, action="voucher.redeem", subject_type="voucher",
                 subject_id=row.serial, from_state="active", to_state="redeemed",
                 details={"account_no": attempt.account_no, "channel": attempt.channel,
                          "redemption_id": redemption_id, "transaction_id": booking.transaction_id,
                          "amount": booking.amount, "currency": booking.currency})
    return document


def _money_in(session: Session, account_no: str, ctx: Context, *, late_fee: bool) -> None:
    """metering.money_in around the booking: the late fee before it, cost control after it."""
    from metering import money_in
    from redeem_api.metering_support import support

    found = support()
    if late_fee:
        money_in.before_allocation(session, account_no, pay_date=found.config.local_date(ctx.now), now=ctx.now,
                                   catalog=found.catalog, config=found.config)
    else:
        money_in.after_booking(session, account_no, now=ctx.now, catalog=found.catalog, config=found.config)


def success_document(session: Session, attempt: Attempt, ctx: Context, booking: RedemptionBooking,
                     redemption_id: str, *, has_meter: bool = True, prepaid: bool | None = None) -> dict[str, object]:
    """The 201 body (also the SMS payload): the one place that builds it."""
    document: dict[str, object] = {
        "redemption_id": redemption_id,
        "serial": booking.serial,
        "amount": format_amount(booking.amount),
        "currency": booking.currency,
        "account_no": attempt.account_no,
        "applied_to_arrears": format_amount(booking.applied_to_arrears),
        "credited_to_balance": format_amount(booking.credited_to_balance),
        "balance": format_amount(booking.balance),
        "redeemed_at": ctx.now.astimezone(dt.timezone.utc).isoformat(),
    }
    sts = None
    if has_meter:  # only accounts with an STS keypad meter (looked up with the account) get a token
        # adds "sts" and sets "balance" to the prepaid balance after the energy sale the vend booked
        sts = add_sts(document, session, attempt.account_no, credited_minor=booking.credited_to_balance,
                      balance_minor=booking.balance, now=ctx.now, source="redemption", source_ref=redemption_id,
                      actor=attempt.actor)
    # Prepaid accounts with a tariff: what the money buys in kWh (new fields; the prepaid flag came with the
    # account query, so other accounts cost nothing here).
    from redeem_api.metering_support import kwh_document

    document.update(kwh_document(session, attempt.account_no, now=ctx.now,
                                 credited_minor=booking.credited_to_balance, prepaid=prepaid, sts=sts))
    return document
