"""Corrections: a transaction is never edited, only reversed - once - by a mirror image.

- :func:`reverse_transaction` books the exact mirror of a bill, remittance or
  prepaid application (at most one reversal each: unique ``reverses_id``).
- :func:`reverse_payment` reverses one channel payment - posted alone or as a
  line of an imported file (whose lines share one journal transaction) - by
  the mirror of that payment's own legs; at most once per payment (unique
  ``payment_reversal``/payment id). The bills it paid are reopened.

An ``energy_sale`` (an STS token's Dr customer_prepaid / Cr revenue) is
reversed here too, by finance, when it was booked wrongly: the mirror puts the
money back on the prepaid balance; the vend record and the token stay as they
are (a token typed into a meter cannot be taken back).

Kinds that belong to the voucher lifecycle (activation, redemption, expiry,
void), settlements, imports as a whole and metering's billing runs and late
fees are corrected through their own processes, not here: their reversal would
leave records outside the books (card states, settled payments, metering
bills, late-fee state) disagreeing with the journal. docs/ledger.md says why
for each.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from vouchers.books import chart, journal
from vouchers.books.accounts import ensure_accounts, lock_accounts
from vouchers.books.channels import get_channel
from vouchers.books.errors import PaymentNotReversible, ReversalNotAllowed, TransactionNotFound
from vouchers.books.incoming import move_bills, record_allocations
from vouchers.books.timeutil import utc
from vouchers.storage import audit
from vouchers.storage.ledger_models import BillAllocation, CustomerAccount, CustomerBill, LedgerTransaction, Payment

REVERSIBLE_KINDS = frozenset({"bill", "prepaid_applied", "remittance", "energy_sale"})
REVERSAL_SOURCE = "reversal"
PAYMENT_REVERSAL_SOURCE = "payment_reversal"


def _reason(reason: str) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise ReversalNotAllowed("a reason is required to reverse a transaction")
    return reason.strip()


def reversal_of(session: Session, transaction_id: int) -> LedgerTransaction | None:
    return session.execute(
        select(LedgerTransaction).where(LedgerTransaction.reverses_id == transaction_id,
                                        LedgerTransaction.kind == "reversal")).scalar_one_or_none()


def reverse_transaction(session: Session, transaction_id: int, *, now: dt.datetime, actor: str,
                        reason: str) -> journal.Posted:
    """Book the mirror image of ``transaction_id`` and undo its effect on bills.

    A single-payment transaction is handed to :func:`reverse_payment`.
    """
    reason = _reason(reason)
    original = journal.get(session, transaction_id)
    if original.reverses_id is not None:
        raise ReversalNotAllowed(f"transaction {transaction_id} is itself a reversal")
    if original.kind == "payment":
        payment = session.execute(select(Payment).where(Payment.transaction_id == transaction_id)).scalar_one()
        return reverse_payment(session, payment.id, now=now, actor=actor, reason=reason)
    if original.kind not in REVERSIBLE_KINDS:
        raise ReversalNotAllowed(f"a {original.kind} transaction is corrected through its own process, "
                                 "not by a reversal")
    existing = reversal_of(session, transaction_id)
    if existing is not None:
        raise ReversalNotAllowed(f"transaction {transaction_id} was already reversed by {existing.id}")
    legs = journal.transaction_legs(session, transaction_id)
    ids = ensure_accounts(session, [leg.key for leg in legs], now)
    lock_accounts(session, ids.values())
    bill = None
    if original.kind == "bill":
        bill = session.execute(select(CustomerBill).where(CustomerBill.transaction_id == transaction_id)).scalar_one()
        if bill.outstanding != bill.amount:
            raise ReversalNotAllowed(f"bill {bill.bill_ref} is partly paid; reverse its payments first")
    reversal_id, created = journal.claim(
        session, kind="reversal", source=REVERSAL_SOURCE, external_ref=str(transaction_id), occurred_at=now,
        now=now, actor=actor, memo=reason, reverses_id=transaction_id)
    if not created:
        raise ReversalNotAllowed(f"transaction {transaction_id} was already reversed by {reversal_id}")
    journal.add_postings(session, reversal_id, [journal.Leg(leg.account, -leg.amount, leg.currency) for leg in legs],
                         ids)
    if bill is not None:  # the bill is cancelled: nothing outstanding on it any more
        move_bills(session, [(bill.id, bill.amount)], sign=-1)
        record_allocations(session, reversal_id, [(bill.id, bill.amount)])
    else:
        parts = [(b, a) for b, a in session.execute(select(BillAllocation.bill_id, BillAllocation.amount)
                                                    .where(BillAllocation.transaction_id == transaction_id)).all()]
        move_bills(session, parts, sign=+1)
        record_allocations(session, reversal_id, parts, sign=-1)
    audit.record(session, now=utc(now), actor=actor, action="ledger.reverse", subject_type="transaction",
                 subject_id=str(transaction_id), reason=reason,
                 details={"kind": original.kind, "reversal_id": reversal_id})
    return journal.Posted(reversal_id, True)


def reversible_payment(session: Session, payment_id: int) -> Payment:
    """The payment if it can be reversed now (booked, not settled, not a voucher redemption), else the reason why not."""
    payment = session.get(Payment, payment_id)
    if payment is None:
        raise TransactionNotFound(f"no payment {payment_id}")
    if payment.channel == "voucher":
        raise PaymentNotReversible("a voucher redemption is not reversed as a payment")
    if payment.status != "booked":
        raise PaymentNotReversible(f"payment {payment.external_ref} is already {payment.status}")
    if payment.reconciliation_id is not None:
        raise PaymentNotReversible(f"payment {payment.external_ref} is already settled by reconciliation "
                                   f"{payment.reconciliation_id}; it cannot be reversed")
    return payment


def reverse_payment(session: Session, payment_id: int, *, now: dt.datetime, actor: str,
                    reason: str) -> journal.Posted:
    """Reverse one channel payment: Dr arrears/prepaid as it credited them, Cr clearing; reopen its bills."""
    reason = _reason(reason)
    payment = reversible_payment(session, payment_id)
    customer = session.get(CustomerAccount, payment.customer_id)
    assert customer is not None
    clearing = get_channel(payment.channel).clearing_account
    currency = payment.currency
    arrears, prepaid = chart.customer_arrears(customer.account_no), chart.customer_prepaid(customer.account_no)
    ids = ensure_accounts(session, [(clearing, currency)], now)
    ids[(arrears, currency)] = customer.arrears_account_id
    ids[(prepaid, currency)] = customer.prepaid_account_id
    lock_accounts(session, ids.values())
    # the payment row itself, conditionally: a reconciliation settling it at the same time wins or loses here
    if session.execute(update(Payment).where(Payment.id == payment_id, Payment.status == "booked",
                                             Payment.reconciliation_id.is_(None))
                       .values(status="reversed")).rowcount != 1:
        raise PaymentNotReversible(f"payment {payment.external_ref} was settled or reversed meanwhile")
    reversal_id, created = journal.claim(
        session, kind="payment_reversal", source=PAYMENT_REVERSAL_SOURCE, external_ref=str(payment_id),
        occurred_at=now, now=now, actor=actor, memo=reason, reverses_id=payment.transaction_id)
    if not created:
        raise PaymentNotReversible(f"payment {payment.external_ref} was already reversed by {reversal_id}")
    legs = [journal.credit(clearing, payment.amount, currency)]
    if payment.applied_to_arrears:
        legs.append(journal.debit(arrears, payment.applied_to_arrears, currency))
    if payment.amount - payment.applied_to_arrears:
        legs.append(journal.debit(prepaid, payment.amount - payment.applied_to_arrears, currency))
    journal.add_postings(session, reversal_id, legs, ids)
    parts = [(b, a) for b, a in session.execute(select(BillAllocation.bill_id, BillAllocation.amount)
                                                .where(BillAllocation.payment_id == payment_id)).all()]
    move_bills(session, parts, sign=+1)
    record_allocations(session, reversal_id, parts, payment_id=payment_id, sign=-1)
    audit.record(session, now=utc(now), actor=actor, action="payment.reverse", subject_type="payment",
                 subject_id=f"{payment.channel}:{payment.external_ref}", from_state="booked", to_state="reversed",
                 reason=reason, details={"payment_id": payment_id, "reversal_id": reversal_id})
    return journal.Posted(reversal_id, True)
