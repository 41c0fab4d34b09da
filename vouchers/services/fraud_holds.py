"""Money a fraud rule held: the hold record, and a fraud analyst's release or return.

Holding happens inside the money-in flow (:func:`vouchers.services.money_in.money_in`);
the books side is :mod:`vouchers.books.held`. Releasing to the account runs the
same money-in flow as any money arriving (late fee, arrears first, cost
control, a keypad meter's token); returning gives the money back to the card
(active again) or the channel (the payment reversed). Both are idempotent: a
second identical request answers what the first did; the other direction is
refused. Every step is an audit event.
"""
from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from vouchers.books import held as books_held
from vouchers.books.customers import get_customer
from vouchers.storage import audit
from vouchers.storage.api_models import FraudHold, Redemption
from vouchers.money import format_amount
from vouchers.services.deps import ServiceDeps
from vouchers.services.errors import FraudReviewError as ServiceError

TO_ACCOUNT, TO_SOURCE = "account", "source"


class HoldNotFound(ServiceError):
    """No hold with that id."""


class HoldAlreadyResolved(ServiceError):
    """The hold was resolved the other way already."""


@dataclass(frozen=True)
class HeldBooking:
    """Money on hold, in the shape of a booking (nothing reached the account)."""

    hold_id: str
    transaction_id: int
    account_no: str
    amount: int
    currency: str
    balance: int
    rules: tuple[str, ...]
    payment_id: int | None = None
    serial: str | None = None
    applied_to_arrears: int = 0
    credited_to_balance: int = 0
    created: bool = True

    def as_json(self) -> dict[str, Any]:
        return {"status": "held", "hold_id": self.hold_id, "account_no": self.account_no,
                "amount": format_amount(self.amount), "currency": self.currency, "rules": list(self.rules)}


def new_hold_id() -> str:
    return "hold_" + secrets.token_hex(10)


def create_hold(session: Session, *, hold_id: str, kind: str, account_no: str, amount: int, currency: str,
                channel: str, transaction_id: int, rules: tuple[str, ...], now: dt.datetime, actor: str,
                voucher_id: int | None = None, serial: str | None = None, payment_id: int | None = None,
                client_pk: int | None = None, distributor_id: str | None = None) -> None:
    session.execute(insert(FraudHold.__table__).values(
        hold_id=hold_id, kind=kind, account_no=account_no, amount=amount, currency=currency, channel=channel,
        voucher_id=voucher_id, serial=serial, payment_id=payment_id, client_pk=client_pk,
        distributor_id=distributor_id, rules=",".join(rules)[:200], status="held", created_at=now,
        transaction_id=transaction_id))
    audit.record(session, now=now, actor=actor, action="fraud.hold", subject_type="fraud_hold", subject_id=hold_id,
                 from_state=None, to_state="held",
                 details={"kind": kind, "account_no": account_no, "amount": amount, "currency": currency,
                          "serial": serial, "payment_id": payment_id, "rules": list(rules)})


def held_for_payment(session: Session, payment_id: int) -> FraudHold | None:
    return session.execute(select(FraudHold).where(FraudHold.payment_id == payment_id)).scalar_one_or_none()


@dataclass(frozen=True)
class Resolution:
    hold_id: str
    status: str  # released | returned
    to: str  # account | source
    transaction_id: int | None
    replayed: bool
    detail: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"hold_id": self.hold_id, "status": self.status, "to": self.to,
                "transaction_id": self.transaction_id, "replayed": self.replayed, **self.detail}


def release(session: Session, hold_id: str, *, to: str, reason: str, actor: str, now: dt.datetime,
            deps: ServiceDeps) -> Resolution:
    """Release a hold to the account (money in, as if it had not been held) or return it to its source."""
    if to not in (TO_ACCOUNT, TO_SOURCE):
        raise ServiceError(f"--to must be {TO_ACCOUNT} or {TO_SOURCE}")
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError("a release needs a reason")
    hold = session.execute(select(FraudHold).where(FraudHold.hold_id == hold_id).with_for_update()
                           ).scalar_one_or_none()
    if hold is None:
        raise HoldNotFound(f"no hold {hold_id}")
    wanted = "released" if to == TO_ACCOUNT else "returned"
    if hold.status == wanted:
        return Resolution(hold_id, hold.status, to, hold.resolution_transaction_id, True, {})
    if hold.status != "held":
        raise HoldAlreadyResolved(f"{hold_id} was {hold.status} already")
    detail: dict[str, Any] = {}
    if to == TO_ACCOUNT:
        transaction_id, detail = _to_account(session, hold, actor=actor, now=now, deps=deps)
    elif hold.kind == "redemption":
        assert hold.voucher_id is not None
        transaction_id = books_held.return_to_card(session, hold_id=hold_id, voucher_id=hold.voucher_id,
                                                   amount=hold.amount, currency=hold.currency, now=now, actor=actor)
    else:
        assert hold.payment_id is not None
        transaction_id = books_held.return_to_channel(session, hold_id=hold_id, payment_id=hold.payment_id,
                                                      now=now, actor=actor)
    if session.execute(update(FraudHold).where(FraudHold.id == hold.id, FraudHold.status == "held").values(
            status=wanted, resolved_at=now, resolved_by=actor, reason=reason[:500],
            resolution_transaction_id=transaction_id)).rowcount != 1:  # pragma: no cover - row locked above
        raise HoldAlreadyResolved(f"{hold_id} was resolved meanwhile")
    audit.record(session, now=now, actor=actor, action=f"fraud.{'release' if to == TO_ACCOUNT else 'return'}",
                 subject_type="fraud_hold", subject_id=hold_id, from_state="held", to_state=wanted, reason=reason,
                 details={"transaction_id": transaction_id, "account_no": hold.account_no, "amount": hold.amount})
    return Resolution(hold_id, wanted, to, transaction_id, False, detail)


def _to_account(session: Session, hold: FraudHold, *, actor: str, now: dt.datetime,
                deps: ServiceDeps) -> tuple[int, dict[str, Any]]:
    from vouchers.services import money_in as flow  # money_in imports this module

    customer = get_customer(session, hold.account_no)
    redemption_id = "rdm_" + secrets.token_hex(12) if hold.kind == "redemption" else None

    def book() -> books_held.Released:
        return books_held.release_to_account(session, hold_id=hold.hold_id, customer=customer, amount=hold.amount,
                                             now=now, actor=actor, payment_id=hold.payment_id,
                                             voucher_serial=hold.serial)

    money = flow.money_in(session, hold.account_no, book, pay_date=deps.metering.local_date(now), now=now, deps=deps,
                          actor=actor, vend_source="redemption" if redemption_id else "payment",
                          vend_ref=lambda b: redemption_id or str(b.payment_id))
    booking = money.booking
    if redemption_id is not None:
        session.execute(insert(Redemption.__table__).values(
            redemption_id=redemption_id, voucher_id=hold.voucher_id, serial=hold.serial,
            account_no=hold.account_no, amount=booking.amount, currency=booking.currency,
            applied_to_arrears=booking.applied_to_arrears, credited_to_balance=booking.credited_to_balance,
            balance_after=booking.balance, channel=hold.channel if hold.channel in ("terminal", "web") else "terminal",
            client_pk=hold.client_pk, ledger_transaction_id=booking.transaction_id, redeemed_at=now))
    detail: dict[str, Any] = {"account_no": hold.account_no, "amount": format_amount(booking.amount),
                              "applied_to_arrears": format_amount(booking.applied_to_arrears),
                              "credited_to_balance": format_amount(booking.credited_to_balance)}
    if redemption_id is not None:
        detail["redemption_id"] = redemption_id
    if money.vend is not None:
        detail["sts"] = money.vend.sts_object()
    return booking.transaction_id, detail


def list_holds(session: Session, *, status: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    query = select(FraudHold).order_by(FraudHold.id.desc()).limit(limit)
    if status is not None:
        query = query.where(FraudHold.status == status)
    return [{"hold_id": h.hold_id, "kind": h.kind, "account_no": h.account_no, "amount": format_amount(h.amount),
             "currency": h.currency, "channel": h.channel, "serial": h.serial, "payment_id": h.payment_id,
             "rules": h.rules.split(","), "status": h.status, "created_at": h.created_at.isoformat(),
             "resolved_at": h.resolved_at.isoformat() if h.resolved_at else None, "resolved_by": h.resolved_by,
             "reason": h.reason} for h in session.execute(query).scalars()]
