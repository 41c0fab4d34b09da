"""Funds held for fraud review: the suspense account ``liability:held_funds``.

A held redemption is Dr voucher_liability, Cr held_funds (the card is claimed;
its money is nobody's yet). A held channel payment is Dr clearing:<channel>,
Cr held_funds, with its payments row (nothing applied, the balance unchanged),
so the channel's clearing still matches its booked payments. Releasing books
Dr held_funds and credits the customer as any money arriving does (arrears
first); returning gives the money back where it came from: the card's
liability (the card is active again) or the channel (the payment is reversed,
as a refund would). Each booking is idempotent by its journal reference.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from vouchers.books import chart, journal
from vouchers.books.accounts import ensure_account, lock_accounts
from vouchers.books.channels import get_channel
from vouchers.books.corrections import PAYMENT_REVERSAL_SOURCE
from vouchers.books.errors import PaymentNotReversible
from vouchers.books.incoming import book_incoming, prepaid_balance, record_allocations
from vouchers.books.payments import insert_payment, payment_source
from vouchers.books.timeutil import utc
from vouchers.books.voucher_books import REDEMPTION_SOURCE
from vouchers.storage.ledger_models import CustomerAccount, Payment
from vouchers.storage.ledger_models import vouchers_lifecycle as V

HOLD_SOURCE = "fraud_hold"


@dataclass(frozen=True)
class Released:
    """Held money credited to its account (the shape of any booking of money in)."""

    transaction_id: int
    account_no: str
    amount: int
    currency: str
    applied_to_arrears: int
    credited_to_balance: int
    balance: int
    created: bool
    payment_id: int | None


def hold_redemption(session: Session, *, voucher_id: int, serial: str, amount: int, currency: str,
                    now: dt.datetime, actor: str | None) -> int:
    """Dr voucher_liability, Cr held_funds for a card just claimed: the journal transaction id."""
    posted = journal.post(session, journal.Entry(
        kind="redemption_held", source=REDEMPTION_SOURCE, external_ref=f"voucher:{voucher_id}",
        legs=(journal.debit(chart.VOUCHER_LIABILITY, amount, currency),
              journal.credit(chart.HELD_FUNDS, amount, currency)),
        occurred_at=now, actor=actor, memo=f"voucher {serial} held for review"), now=now)
    return posted.transaction_id


def hold_payment(session: Session, *, channel: str, customer: CustomerAccount, amount: int, external_ref: str,
                 paid_at: dt.datetime, now: dt.datetime, actor: str | None) -> tuple[int, int, int]:
    """Dr clearing:<channel>, Cr held_funds, and the payments row: (transaction id, payment id, balance)."""
    chan = get_channel(channel)
    posted = journal.post(session, journal.Entry(
        kind="payment_held", source=payment_source(chan.code), external_ref=external_ref,
        legs=(journal.debit(chan.clearing_account, amount, customer.currency),
              journal.credit(chart.HELD_FUNDS, amount, customer.currency)),
        occurred_at=paid_at, actor=actor, memo="payment held for review"), now=now)
    balance = prepaid_balance(session, customer)
    payment_id = insert_payment(session, channel=chan.code, external_ref=external_ref, customer=customer,
                                amount=amount, currency=customer.currency, applied=0, balance_after=balance,
                                paid_at=paid_at, transaction_id=posted.transaction_id)
    return posted.transaction_id, payment_id, balance


def release_to_account(session: Session, *, hold_id: str, customer: CustomerAccount, amount: int,
                       now: dt.datetime, actor: str, payment_id: int | None = None,
                       voucher_serial: str | None = None) -> Released:
    """Dr held_funds, Cr the account (arrears first). A held payment's row takes the allocation; a held
    card gets its ``voucher`` payments row now (as a redemption would have)."""
    booked = book_incoming(session, customer, debit_account=chart.HELD_FUNDS, amount=amount,
                           currency=customer.currency, kind="hold_release", source=HOLD_SOURCE,
                           external_ref=f"{hold_id}:release", occurred_at=now, now=now, actor=actor,
                           memo=f"{hold_id} released to {customer.account_no}")
    if not booked.created or booked.allocation is None:
        raise PaymentNotReversible(f"{hold_id} was released before")
    balance = prepaid_balance(session, customer)
    applied = booked.allocation.to_arrears
    if payment_id is not None:
        session.execute(update(Payment).where(Payment.id == payment_id)
                        .values(applied_to_arrears=applied, balance_after=balance))
    else:
        payment_id = insert_payment(session, channel="voucher", external_ref=voucher_serial or hold_id,
                                    customer=customer, amount=amount, currency=customer.currency, applied=applied,
                                    balance_after=balance, paid_at=now, transaction_id=booked.transaction_id)
    record_allocations(session, booked.transaction_id, booked.allocation.to_bills, payment_id=payment_id)
    return Released(booked.transaction_id, customer.account_no, amount, customer.currency, applied,
                    booked.allocation.to_prepaid, balance, True, payment_id)


def return_to_card(session: Session, *, hold_id: str, voucher_id: int, amount: int, currency: str,
                   now: dt.datetime, actor: str) -> int:
    """Dr held_funds, Cr voucher_liability; the card is active again (its liability is back)."""
    posted = journal.post(session, journal.Entry(
        kind="hold_return", source=HOLD_SOURCE, external_ref=f"{hold_id}:return",
        legs=(journal.debit(chart.HELD_FUNDS, amount, currency),
              journal.credit(chart.VOUCHER_LIABILITY, amount, currency)),
        occurred_at=now, actor=actor, memo=f"{hold_id} returned to the card"), now=now)
    at = utc(now)
    session.execute(update(V).where(V.c.id == voucher_id, V.c.status == "redeemed")
                    .values(status="active", redeemed_at=None, updated_at=at))
    return posted.transaction_id


def return_to_channel(session: Session, *, hold_id: str, payment_id: int, now: dt.datetime, actor: str) -> int:
    """Dr held_funds, Cr clearing:<channel>; the payment is reversed (the channel gives the money back)."""
    payment = session.execute(select(Payment.channel, Payment.amount, Payment.currency, Payment.transaction_id)
                              .where(Payment.id == payment_id)).one()
    clearing = get_channel(payment.channel).clearing_account
    ids = (ensure_account(session, clearing, payment.currency, now),
           ensure_account(session, chart.HELD_FUNDS, payment.currency, now))
    lock_accounts(session, ids)
    if session.execute(update(Payment).where(Payment.id == payment_id, Payment.status == "booked",
                                             Payment.reconciliation_id.is_(None))
                       .values(status="reversed")).rowcount != 1:
        raise PaymentNotReversible(f"held payment {payment_id} was settled or reversed meanwhile")
    posted = journal.post(session, journal.Entry(
        kind="payment_reversal", source=PAYMENT_REVERSAL_SOURCE, external_ref=str(payment_id),
        legs=(journal.debit(chart.HELD_FUNDS, int(payment.amount), payment.currency),
              journal.credit(clearing, int(payment.amount), payment.currency)),
        occurred_at=now, actor=actor, memo=f"{hold_id} returned to the channel",
        reverses_id=payment.transaction_id), now=now)
    return posted.transaction_id
