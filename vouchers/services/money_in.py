"""Money arriving on an electricity account: the one flow every channel runs.

In the caller's transaction, in this order:

1. **late fee**: an overdue electricity bill's late fee through the payment
   day is posted first (:func:`vouchers.metering.money_in.before_allocation`), so the
   arrears-first rule pays it with this money;
2. **booking**: the channel's own booking (a channel payment, a claimed
   voucher) puts the money on arrears first, the rest on the prepaid balance;
3. **cost control**: a prepaid account under remote control with an open
   state is evaluated (a reconnect order goes out with the money);
4. **STS vend**: an account with a keypad meter gets a token for the money
   credited to its balance, and the energy sale is booked
   (:func:`vouchers.vending.service.vend_for_credit`); a refusal refuses it all;
5. **kWh figures** for prepaid accounts (display only).

Steps 1 and 3 cost nothing for an account with nothing pending (the gate is
one query, or comes with the caller's own account query). The notification
(an SMS outbox row) is written by the use case, which knows its template:
:func:`pay` here, :func:`vouchers.services.redeem.redeem` for cards.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from sqlalchemy import insert
from sqlalchemy.orm import Session

from vouchers.books.customers import get_customer
from vouchers.books.errors import CurrencyMismatch
from vouchers.books.payments import PaymentResult, post_payment
from vouchers.metering import money_in as rules
from vouchers.metering.money_in import Gate
from vouchers.storage.api_models import OutboxMessage
from vouchers.vending.meters import find_meter
from vouchers.vending.service import VendResult, vend_for_credit, vends_for
from vouchers.money import format_amount
from vouchers.services.deps import ServiceDeps
from vouchers.services.errors import NothingToVend
from vouchers.services.kwh import kwh_figures

NO_TOKEN_NOTE = "all of the money paid arrears; no token"


class Booking(Protocol):
    """What any channel's booking reports (:class:`vouchers.books.payments.PaymentResult`,
    :class:`vouchers.books.voucher_books.RedemptionBooking`)."""

    @property
    def account_no(self) -> str: ...
    @property
    def amount(self) -> int: ...
    @property
    def currency(self) -> str: ...
    @property
    def applied_to_arrears(self) -> int: ...
    @property
    def credited_to_balance(self) -> int: ...
    @property
    def balance(self) -> int: ...  # the prepaid balance right after the booking
    @property
    def created(self) -> bool: ...  # False: a replay of an earlier identical booking


B = TypeVar("B", bound=Booking)


@dataclass(frozen=True)
class Vend:
    """The keypad meter's side of the money: a token, or none when all of it paid arrears."""

    meter: str  # the meter's PAN
    result: VendResult | None

    @property
    def sold_minor(self) -> int:
        """Money moved from the prepaid balance to revenue by this token (0: no token)."""
        return (self.result.amount_minor or 0) if self.result is not None else 0

    def sts_object(self) -> dict[str, object]:
        """The ``sts`` object of responses and SMS payloads."""
        if self.result is None:
            return {"token": None, "tid": None, "meter": self.meter, "kind": "credit", "kwh": "0.0",
                    "tariff_kwh": "0.00", "note": NO_TOKEN_NOTE}
        return self.result.as_response()


@dataclass(frozen=True)
class MoneyIn(Generic[B]):
    """What money arriving did: the booking, the token (keypad meters) and the kWh figures."""

    booking: B
    gate: Gate
    vend: Vend | None
    kwh: dict[str, str]

    @property
    def balance(self) -> int:
        """The prepaid balance after it all (a token's energy sale included)."""
        return self.booking.balance - (self.vend.sold_minor if self.vend is not None else 0)


def vend_credit(session: Session, account_no: str, credited_minor: int, *, now: dt.datetime, deps: ServiceDeps,
                source: str, source_ref: str, actor: str, meter_pan: str | None = None,
                required: bool = False) -> Vend | None:
    """The token for money already credited to the balance, if the account has an active keypad meter.

    None when there is no meter and (source, ref) vended nothing before. A
    (source, ref) seen before returns its first token (replayed).
    ``required``: the caller sells a token (``sts vend``): no meter is an
    error (:class:`vouchers.vending.errors.UnknownMeter`), and so is no money left
    for one (:class:`NothingToVend`). Refusals raise
    :class:`vouchers.vending.errors.VendingError`; the caller's transaction rolls back.
    """
    if not required and not vends_for(session, account_no, source, source_ref):
        return None
    if credited_minor <= 0:
        if required:
            raise NothingToVend("all of the money would pay arrears: no token to vend")
        meter = find_meter(session, account_no)
        return Vend(meter.pan, None) if meter is not None else None
    result = vend_for_credit(session, account_no, credited_minor, now, deps.vending(), catalog=deps.catalog,
                             config=deps.metering, pan=meter_pan, source=source, source_ref=source_ref, actor=actor)
    return Vend(result.pan, result)


def money_in(session: Session, account_no: str, book: Callable[[], B], *, pay_date: dt.date, now: dt.datetime,
             deps: ServiceDeps, actor: str | None, vend_source: str, vend_ref: Callable[[B], str],
             gate: Gate | None = None, meter_pan: str | None = None, token_required: bool = False,
             currency: str | None = None) -> MoneyIn[B]:
    """Late fee -> ``book()`` -> cost control -> STS vend -> kWh figures, in the caller's transaction.

    ``book`` books the money (arrears first) and reports it; ``pay_date`` is
    the local day the money was paid (the late fee runs to it). ``gate``: the
    caller's own read of :func:`vouchers.metering.money_in.gate` (None reads it).
    ``vend_source``/``vend_ref(booking)`` make the vend idempotent with the booking.
    ``currency``: the currency the channel says the money is in (None: the account's); another than the
    account's is :class:`~vouchers.books.errors.CurrencyMismatch` before anything is posted.
    """
    if currency is not None:
        check_currency(session, account_no, currency)
    if gate is None:
        gate = rules.gate(session, account_no, pay_date=pay_date)
    if gate.late_fee:
        rules.before_allocation(session, account_no, pay_date=pay_date, now=now, catalog=deps.catalog,
                                config=deps.metering)
    booking = book()
    if gate.watched and booking.created:
        rules.after_booking(session, booking.account_no, now=now, catalog=deps.catalog, config=deps.metering)
    vend = None
    if gate.keypad or not booking.created or token_required:  # a replay may carry a token of a meter gone since
        vend = vend_credit(session, booking.account_no, booking.credited_to_balance, now=now, deps=deps,
                           source=vend_source, source_ref=vend_ref(booking), actor=actor or "system",
                           meter_pan=meter_pan, required=token_required)
    kwh = kwh_figures(session, booking.account_no, deps, now=now, credited_minor=booking.credited_to_balance,
                      prepaid=gate.prepaid, sts=vend.sts_object() if vend is not None else None)
    return MoneyIn(booking, gate, vend, kwh)


def check_currency(session: Session, account_no: str, currency: str) -> None:
    """Money in ``currency`` may only land on an account kept in ``currency`` (no conversion, ever):
    every channel's refusal, checked before the late fee or the booking writes anything."""
    account_currency = get_customer(session, account_no).currency
    if currency != account_currency:
        raise CurrencyMismatch(f"account {account_no} is in {account_currency}, not {currency}")


@dataclass(frozen=True)
class ChannelPayment:
    """One payment a channel (bank, Alipay, a counter...) reports, idempotent by (channel, external_ref)."""

    channel: str
    account_no: str
    amount_minor: int
    external_ref: str
    paid_at: dt.datetime  # aware
    currency: str | None = None  # what the channel says; None: the account's currency


def pay(session: Session, payment: ChannelPayment, *, now: dt.datetime, deps: ServiceDeps, actor: str | None = None,
        meter_pan: str | None = None, token_required: bool = False) -> MoneyIn[PaymentResult]:
    """A channel payment through :func:`money_in`, then its token SMS (a new payment with a token only).

    Raises the books' refusals (:mod:`vouchers.books.errors`), :class:`vouchers.vending.errors.VendingError`
    and :class:`NothingToVend`; the caller's transaction rolls back.
    """
    pay_date = min(deps.metering.local_date(payment.paid_at), deps.metering.local_date(now))
    paid = money_in(
        session, payment.account_no,
        lambda: post_payment(session, payment.channel, payment.account_no, payment.amount_minor,
                             payment.external_ref, payment.paid_at, now, currency=payment.currency, actor=actor),
        pay_date=pay_date, now=now, deps=deps, actor=actor, vend_source="payment",
        vend_ref=lambda result: str(result.payment_id), meter_pan=meter_pan, token_required=token_required,
        currency=payment.currency)
    _notify_token(session, paid, now)
    return paid


def _notify_token(session: Session, paid: MoneyIn[PaymentResult], now: dt.datetime) -> None:
    """The customer's SMS with the token of a new payment (a replay sends nothing again)."""
    if not paid.booking.created or paid.vend is None or paid.vend.result is None:
        return
    result = paid.booking
    session.execute(insert(OutboxMessage.__table__), {
        "kind": "sms.sts_token", "account_no": result.account_no, "created_at": now, "attempts": 0,
        "payload": json.dumps({"template": "sts_token", "payment_id": str(result.payment_id),
                               "amount": format_amount(result.amount), "currency": result.currency,
                               "sts": paid.vend.sts_object()}, ensure_ascii=False, sort_keys=True)})
