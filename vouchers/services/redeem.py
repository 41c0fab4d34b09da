"""Redeem one code (typed or scanned ``EV1:`` token) onto one account: claim the card, then money in.

In the caller's transaction (the route's, which also holds the API key
check, the Idempotency-Key reservation and the throttle check, and commits
once):

1. the account, its balance rows, the ``voucher_liability`` row and the
   metering gate (late fee pending, prepaid, keypad meter), in one query;
2. the claim IS the lookup: ``UPDATE vouchers SET status='redeemed' WHERE
   code_hash = HMAC(pepper, code) AND status='active' AND expires >= :today
   AND currency = <the account's> RETURNING ...`` - exactly one request wins
   the card (PostgreSQL re-checks the WHERE after the first writer commits,
   SQLite has one writer at a time). Only if it matches nothing is the card
   read, to tell void / inactive / canary cards apart for the fraud alerts;
3. :func:`vouchers.services.money_in.money_in` with the card's booking
   (:func:`vouchers.books.voucher_books.book_claimed_redemption`): late fee, books,
   cost control, the STS token of a keypad meter, kWh figures;
4. the redemption row, the SMS outbox row and the audit event, written at commit.

Every refusal of a well-formed code is a :class:`VoucherRefused` (one
``invalid_voucher`` to the caller); the reason is kept only for the fraud
alert it carries. A refusal after the claim is undone by the caller's rollback.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
from dataclasses import dataclass

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from vouchers.books import chart
from vouchers.books.errors import CurrencyMismatch, RedemptionBookingError
from vouchers.books.voucher_books import ClaimedVoucher, Payee, RedemptionBooking, book_claimed_redemption
from vouchers.metering.money_in import Gate, keypad, late_fee_pending, prepaid
from vouchers.storage import audit, hot_sql
from vouchers.storage.api_models import OutboxMessage, Redemption
from vouchers.storage.commit_hooks import insert_at_commit
from vouchers.storage.ledger_models import CustomerAccount, LedgerAccount
from vouchers.storage.models import Voucher
from vouchers.storage.types import UTCDateTime
from vouchers.codes import code_hash_normalized, normalize_code
from vouchers.holder import mask_name
from vouchers.errors import BadSignature, ExpiredToken, RevokedKey, TokenError, UnknownKey
from vouchers.keyring import KeyRing
from vouchers.money import format_amount
from vouchers.services import fraud
from vouchers.services.deps import ServiceDeps
from vouchers.services.errors import TokenRefused, UnknownPayee, VoucherRefused
from vouchers.services import money_in as flow
from vouchers.services.money_in import MoneyIn
from vouchers.token import PREFIX, verify_token

log = logging.getLogger(__name__)

# Built once: the hot path only binds values (Core statements on tables, no ORM units of work).
_CA, _LA, _VT = CustomerAccount.__table__, LedgerAccount.__table__, Voucher.__table__
# The account, its two balance rows, the voucher_liability row of its currency and the metering gate
# (metering.money_in.gate's three flags): one statement for what took four.
_PAYEE = select(
    _CA.c.id, _CA.c.account_no, _CA.c.name, _CA.c.currency, _CA.c.arrears_account_id, _CA.c.prepaid_account_id,
    select(_LA.c.id).where(_LA.c.code == chart.VOUCHER_LIABILITY, _LA.c.currency == _CA.c.currency)
    .scalar_subquery().label("liability_id"),
    keypad(_CA.c.account_no).label("has_meter"),
    prepaid(_CA.c.account_no).label("prepaid"),
    late_fee_pending(_CA.c.account_no, bindparam("today")).label("late_fee"),
).where(_CA.c.account_no == bindparam("no"))
# The claim IS the lookup (a card in another currency than the account's included: refused alike).
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
class RedeemRequest:
    """Who redeems which code onto which account, through which channel."""

    code_text: str  # as typed or scanned (already stripped and format-checked by the edge)
    account_no: str
    channel: str  # "terminal" | "web" | "sms"
    actor: str
    client_pk: int | None = None


@dataclass(frozen=True)
class VoucherKeys:
    """What recognises a code: the code-hash pepper, the public key ring, the canary serials."""

    pepper: bytes
    keyring: KeyRing
    canaries: frozenset[str]


@dataclass(frozen=True)
class Redeemed:
    """A redemption done (not yet committed): its id, what the money did, and its receipt document."""

    redemption_id: str
    money: MoneyIn[RedemptionBooking]
    document: dict[str, object]  # the 201 body and the SMS payload: one format (:func:`receipt`)


def redeem(session: Session, request: RedeemRequest, *, keys: VoucherKeys, deps: ServiceDeps, now: dt.datetime,
           today: dt.date) -> Redeemed:
    """Claim the card and credit its value, inside the caller's transaction.

    Raises :class:`UnknownPayee`, :class:`VoucherRefused`, :class:`TokenRefused`
    or :class:`vouchers.vending.errors.VendingError`; the caller rolls back (undoing a claim made here).
    """
    payee = hot_sql.one_or_none(session, _PAYEE, {"no": request.account_no, "today": today})
    if payee is None:
        raise UnknownPayee(f"no electricity account {request.account_no}")
    code, token_serial = _resolve_code(request, keys, today)
    code_hash = code_hash_normalized(keys.pepper, code)
    del code
    row = hot_sql.one_or_none(session, _CLAIM, {"h": code_hash, "today": today, "at": now, "cur": payee.currency})
    if row is None:  # unknown, not active, expired, another currency, or redeemed a moment ago by another request
        raise _refuse_unclaimed(session, keys, code_hash, token_serial)
    alert = None  # refusals of a card just claimed: the rollback gives it back
    if row.serial in keys.canaries:
        alert = fraud.CANARY_SERIAL
    elif token_serial is not None and token_serial != row.serial:
        alert = fraud.FORGED_TOKEN
    if alert is not None:
        raise VoucherRefused("refused", alert=alert, serial=row.serial, voucher_status="active")
    redemption_id = "rdm_" + secrets.token_hex(12)

    def book() -> RedemptionBooking:
        try:
            return book_claimed_redemption(
                session, ClaimedVoucher(row.id, row.serial, row.face_value, row.currency, row.activated_at),
                Payee(payee.id, payee.account_no, payee.currency, payee.arrears_account_id,
                      payee.prepaid_account_id),
                now=now, actor=request.actor, liability_account_id=payee.liability_id)
        except (CurrencyMismatch, RedemptionBookingError) as e:
            # an active card the books cannot redeem (e.g. activated outside the books): refused alike, uncounted
            log.error("books refused the redemption of %s: %s", row.serial, e)
            raise VoucherRefused("the books refused it", counted=False) from e

    gate = Gate(late_fee=bool(payee.late_fee), prepaid=bool(payee.prepaid), keypad=bool(payee.has_meter))
    money = flow.money_in(session, request.account_no, book, pay_date=deps.metering.local_date(now), now=now,
                          deps=deps, actor=request.actor, vend_source="redemption",
                          vend_ref=lambda _booking: redemption_id, gate=gate)
    booking = money.booking
    insert_at_commit(session, _INSERT_REDEMPTION, {
        "redemption_id": redemption_id, "voucher_id": row.id, "serial": row.serial,
        "account_no": request.account_no, "amount": booking.amount, "currency": booking.currency,
        "applied_to_arrears": booking.applied_to_arrears, "credited_to_balance": booking.credited_to_balance,
        "balance_after": booking.balance, "channel": request.channel, "client_pk": request.client_pk,
        "ledger_transaction_id": booking.transaction_id, "redeemed_at": now})
    document = receipt(redemption_id, request.account_no, money, now, holder_masked=mask_name(payee.name))
    insert_at_commit(session, _INSERT_OUTBOX, {
        "kind": "sms.voucher_redeemed", "account_no": request.account_no, "created_at": now, "attempts": 0,
        "payload": json.dumps({"template": "voucher_redeemed", **document}, ensure_ascii=False, sort_keys=True)})
    audit.record(session, now=now, actor=request.actor, action="voucher.redeem", subject_type="voucher",
                 subject_id=row.serial, from_state="active", to_state="redeemed",
                 details={"account_no": request.account_no, "channel": request.channel,
                          "redemption_id": redemption_id, "transaction_id": booking.transaction_id,
                          "amount": booking.amount, "currency": booking.currency})
    return Redeemed(redemption_id, money, document)


def receipt(redemption_id: str, account_no: str, money: MoneyIn[RedemptionBooking],
            now: dt.datetime, *, holder_masked: str) -> dict[str, object]:
    """The redemption's document (the 201 body, also the SMS payload): formatting only.

    ``holder_masked`` (:func:`vouchers.holder.mask_name`) lets the customer see whose account was credited."""
    booking = money.booking
    document: dict[str, object] = {
        "redemption_id": redemption_id,
        "serial": booking.serial,
        "amount": format_amount(booking.amount),
        "currency": booking.currency,
        "account_no": account_no,
        "holder_masked": holder_masked,
        "applied_to_arrears": format_amount(booking.applied_to_arrears),
        "credited_to_balance": format_amount(booking.credited_to_balance),
        "balance": format_amount(money.balance),  # after a token's energy sale, as the account shows it
        "redeemed_at": now.astimezone(dt.timezone.utc).isoformat(),
    }
    if money.vend is not None:
        document["sts"] = money.vend.sts_object()
    document.update(money.kwh)
    return document


def _resolve_code(request: RedeemRequest, keys: VoucherKeys, today: dt.date) -> tuple[str, str | None]:
    """(normalised code, serial the token claims) - verifying a token's signature first."""
    if not request.code_text.startswith(PREFIX):
        return normalize_code(request.code_text), None
    try:
        claims = verify_token(request.code_text, keys.keyring, today)
    except ExpiredToken as e:
        raise VoucherRefused("expired token") from e
    except TokenError as e:
        forged = isinstance(e, (BadSignature, UnknownKey, RevokedKey))
        raise TokenRefused("the scanned token is not a valid voucher token",
                           alert=fraud.FORGED_TOKEN if forged else None,
                           voucher_status=e.code if forged else None) from e
    return claims.code, claims.serial


def _refuse_unclaimed(session: Session, keys: VoucherKeys, code_hash: bytes,
                      token_serial: str | None) -> VoucherRefused:
    """The claim found no active, valid card: the same refusal for every reason (alerts aside)."""
    row = session.execute(_VOUCHER, {"h": code_hash}).one_or_none()
    if row is None:
        return VoucherRefused("unknown code")
    alert = None
    if row.serial in keys.canaries:
        alert = fraud.CANARY_SERIAL
    elif row.status == "void":
        alert = fraud.VOID_VOUCHER
    elif row.status == "inactive":
        alert = fraud.INACTIVE_VOUCHER
    elif token_serial is not None and token_serial != row.serial:
        alert = fraud.FORGED_TOKEN
    return VoucherRefused("refused", alert=alert, serial=row.serial, voucher_status=row.status)
