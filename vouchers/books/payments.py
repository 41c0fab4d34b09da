"""Channel payments: one payment in, idempotent by the channel's own reference.

Dr ``clearing:<channel>``; Cr the customer's arrears (oldest bill first), the
rest Cr ``customer_prepaid:<account>``. A payment posted alone is one journal
transaction; the lines of an imported file share one (see :mod:`vouchers.books.imports`). The same reference again with the same
amount and account returns the original result; with anything else it raises
:class:`~vouchers.books.errors.PaymentConflict` and books nothing.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from vouchers.books.accounts import ensure_account, lock_accounts
from vouchers.books.channels import payment_channel
from vouchers.books.csvformat import MAX_PAYMENT, REF_PATTERN, REF_RULE, ref_problem
from vouchers.books.customers import get_customer
from vouchers.books.errors import CurrencyMismatch, InvalidPayment, PaymentConflict
from vouchers.books.incoming import book_incoming, prepaid_balance, record_allocations
from vouchers.books.timeutil import from_db, utc
from vouchers.storage.ledger_models import CustomerAccount, Payment
from vouchers.money import format_amount

MAX_REF = 64
_REF = re.compile(REF_PATTERN)


@dataclass(frozen=True)
class PaymentResult:
    payment_id: int
    channel: str
    external_ref: str
    account_no: str
    amount: int
    currency: str
    applied_to_arrears: int
    credited_to_balance: int
    balance: int  # prepaid balance right after this payment was booked (also on a replay)
    paid_at: dt.datetime
    created: bool  # False when this is a replay of an earlier identical payment


def payment_source(channel: str) -> str:
    return f"payment:{channel}"


def validate_ref(external_ref: str) -> str:
    """A channel's reference as :data:`vouchers.books.csvformat.REF_PATTERN` allows it (never a spreadsheet formula)."""
    if not isinstance(external_ref, str):
        raise InvalidPayment(f"external_ref must be {REF_RULE}")
    if not _REF.match(external_ref):
        raise InvalidPayment(ref_problem(external_ref))
    return external_ref


def validate_amount(amount: int) -> int:
    """``amount`` in minor units: an int from 1 to :data:`~vouchers.books.csvformat.MAX_PAYMENT`."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidPayment("amount must be integer minor units")
    if amount <= 0:
        raise InvalidPayment(f"amount must be greater than zero, got {amount}")
    if amount > MAX_PAYMENT:
        raise InvalidPayment(f"amount must be at most {format_amount(MAX_PAYMENT)} per payment, "
                             f"got {format_amount(amount)}")
    return amount


def post_payment(session: Session, channel: str, account_no: str, amount_minor: int, external_ref: str,
                 paid_at: dt.datetime, now: dt.datetime, *, currency: str | None = None,
                 actor: str | None = None) -> PaymentResult:
    """Book one channel payment (idempotent by channel + external_ref)."""
    chan = payment_channel(channel)
    validate_ref(external_ref)
    validate_amount(amount_minor)
    try:
        paid_at_utc = utc(paid_at)
    except (TypeError, ValueError) as e:
        raise InvalidPayment(f"paid_at must be an aware datetime: {e}") from e
    customer = get_customer(session, account_no)
    currency = currency or customer.currency
    if currency != customer.currency:
        raise CurrencyMismatch(f"account {account_no} is in {customer.currency}, not {currency}")
    replay = _replay(session, chan.code, external_ref, customer, amount_minor, currency)
    if replay is not None:
        return replay
    debit_id = ensure_account(session, chan.clearing_account, currency, now)
    lock_accounts(session, (debit_id, customer.arrears_account_id, customer.prepaid_account_id))
    # again under the locks: an import or another post of this reference may have committed meanwhile
    replay = _replay(session, chan.code, external_ref, customer, amount_minor, currency)
    if replay is not None:
        return replay
    booked = book_incoming(session, customer, debit_account=chan.clearing_account, amount=amount_minor,
                           currency=currency, kind="payment", source=payment_source(chan.code),
                           external_ref=external_ref, occurred_at=paid_at_utc, now=now, actor=actor)
    if not booked.created:  # booked concurrently by someone else while we waited for the locks
        replay = _replay(session, chan.code, external_ref, customer, amount_minor, currency)
        if replay is None:  # pragma: no cover - the journal and the subledger are written together
            raise PaymentConflict(f"reference {external_ref} is in the journal without a payment record")
        return replay
    assert booked.allocation is not None
    balance = prepaid_balance(session, customer)
    payment_id = insert_payment(session, channel=chan.code, external_ref=external_ref, customer=customer,
                                amount=amount_minor, currency=currency, applied=booked.allocation.to_arrears,
                                balance_after=balance, paid_at=paid_at_utc, transaction_id=booked.transaction_id)
    record_allocations(session, booked.transaction_id, booked.allocation.to_bills, payment_id=payment_id)
    return PaymentResult(payment_id, chan.code, external_ref, customer.account_no, amount_minor, currency,
                         booked.allocation.to_arrears, booked.allocation.to_prepaid, balance, paid_at_utc, True)


def insert_payment(session: Session, *, channel: str, external_ref: str, customer: CustomerAccount, amount: int,
                   currency: str, applied: int, balance_after: int, paid_at: dt.datetime,
                   transaction_id: int) -> int:
    return int(session.execute(insert(Payment.__table__).values(
        channel=channel, external_ref=external_ref, customer_id=customer.id, amount=amount, currency=currency,
        applied_to_arrears=applied, balance_after=balance_after, paid_at=utc(paid_at), status="booked",
        transaction_id=transaction_id).returning(Payment.__table__.c.id)).scalar_one())


def _replay(session: Session, channel: str, external_ref: str, customer: CustomerAccount, amount: int,
            currency: str) -> PaymentResult | None:
    payment = get_payment(session, channel, external_ref)
    if payment is None:
        return None
    if payment.amount != amount or payment.customer_id != customer.id or payment.currency != currency:
        raise PaymentConflict(
            f"reference {external_ref} was already booked with another amount or account; nothing booked")
    if payment.status != "booked":
        raise PaymentConflict(f"reference {external_ref} was booked and then reversed; use a new reference")
    return result_of(session, payment, created=False)


def result_of(session: Session, payment: Payment, *, created: bool) -> PaymentResult:
    owner = session.get(CustomerAccount, payment.customer_id)
    assert owner is not None
    return PaymentResult(payment.id, payment.channel, payment.external_ref, owner.account_no, payment.amount,
                         payment.currency, payment.applied_to_arrears, payment.amount - payment.applied_to_arrears,
                         payment.balance_after, from_db(payment.paid_at) or payment.paid_at, created)


def get_payment(session: Session, channel: str, external_ref: str) -> Payment | None:
    return session.execute(select(Payment).where(Payment.channel == channel, Payment.external_ref == external_ref)
                           ).scalar_one_or_none()


def payments_of(session: Session, account_no: str) -> list[Payment]:
    customer = get_customer(session, account_no)
    return list(session.execute(select(Payment).where(Payment.customer_id == customer.id)
                                .order_by(Payment.paid_at, Payment.id)).scalars())
