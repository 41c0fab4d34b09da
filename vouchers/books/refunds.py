"""Refund lines of a channel's settlement file, applied to the books during reconciliation.

A refund gives a customer's payment back through the channel, so the books
undo that payment: :func:`vouchers.books.corrections.reverse_payment` (Dr the customer
as the payment credited it, Cr clearing:<channel>; its bills reopen). The
reversal references the original and exists at most once per payment, so a
file reconciled twice reverses nothing the second time.

Outcome per refund line (``status``):

- ``reversed``: the booked payment was reversed now;
- ``already_reversed``: reversed before (an earlier run, or by hand): nothing booked;
- ``missing_in_books``: no payment of the channel with that reference: nothing booked;
- ``amount_mismatch``: another amount or currency (a partial refund): nothing booked,
  finance corrects by hand;
- ``account_mismatch``: the refund names another account: nothing booked;
- ``settled_before``: the payment was settled by an earlier reconciliation and can no
  longer be reversed (the channel deducts the refund from a later payout): nothing
  booked, finance corrects by hand.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from vouchers.books import journal
from vouchers.books.corrections import PAYMENT_REVERSAL_SOURCE, reverse_payment
from vouchers.storage.ledger_models import CustomerAccount, Payment
from vouchers.money import format_amount

REVERSED, ALREADY_REVERSED = "reversed", "already_reversed"
MISSING_IN_BOOKS, AMOUNT_MISMATCH, ACCOUNT_MISMATCH, SETTLED_BEFORE = (
    "missing_in_books", "amount_mismatch", "account_mismatch", "settled_before")
UNDONE = frozenset({REVERSED, ALREADY_REVERSED})  # the payment is no longer in the books


@dataclass(frozen=True, slots=True)
class RefundLine:
    """One refund line of a channel file, read by an adapter."""

    line: int  # physical line number in the file
    external_ref: str  # the refunded payment's reference (the channel's trade number)
    amount: int  # minor units refunded, > 0
    currency: str
    refunded_at: dt.datetime  # aware, UTC
    account_no: str | None = None  # when the line names one
    refund_ref: str | None = None  # the channel's refund request/batch number
    fee_returned: int = 0  # channel fee given back with the refund (minor units)


@dataclass(frozen=True, slots=True)
class RefundOutcome:
    refund: RefundLine
    status: str
    payment_id: int | None = None
    book_amount: int | None = None
    reversal_id: int | None = None

    def as_dict(self) -> dict[str, object]:
        r = self.refund
        return {"line": r.line, "external_ref": r.external_ref, "refund_ref": r.refund_ref,
                "account_no": r.account_no, "amount": format_amount(r.amount), "currency": r.currency,
                "fee_returned": format_amount(r.fee_returned), "refunded_at": r.refunded_at.isoformat(),
                "status": self.status, "payment_id": self.payment_id,
                "book_amount": format_amount(self.book_amount) if self.book_amount is not None else None,
                "reversal_id": self.reversal_id}


def apply_refunds(session: Session, channel: str, refunds: Iterable[RefundLine], *, now: dt.datetime, actor: str,
                  file_name: str) -> list[RefundOutcome]:
    """Reverse the booked, unsettled payment of each full refund; report every other case."""
    outcomes = []
    for refund in sorted(refunds, key=lambda r: r.line):
        outcomes.append(_apply(session, channel, refund, now=now, actor=actor, file_name=file_name))
    return outcomes


def _apply(session: Session, channel: str, refund: RefundLine, *, now: dt.datetime, actor: str,
           file_name: str) -> RefundOutcome:
    # plain columns, not the ORM row: a reversal earlier in this run changed the row behind the session's back
    row = session.execute(
        select(Payment.id, Payment.amount, Payment.currency, Payment.status, Payment.reconciliation_id,
               CustomerAccount.account_no)
        .join(CustomerAccount, CustomerAccount.id == Payment.customer_id)
        .where(Payment.channel == channel, Payment.external_ref == refund.external_ref)).one_or_none()
    if row is None:
        return RefundOutcome(refund, MISSING_IN_BOOKS)
    payment_id, amount, currency, status, settled_by, account_no = row
    found = RefundOutcome(refund, "", payment_id, int(amount))
    if status == "reversed":
        earlier = journal.find(session, PAYMENT_REVERSAL_SOURCE, str(payment_id))
        return _with(found, ALREADY_REVERSED, earlier.id if earlier is not None else None)
    if int(amount) != refund.amount or currency != refund.currency:
        return _with(found, AMOUNT_MISMATCH)
    if refund.account_no is not None and refund.account_no != account_no:
        return _with(found, ACCOUNT_MISMATCH)
    if settled_by is not None:
        return _with(found, SETTLED_BEFORE)
    reason = f"refund {refund.refund_ref or refund.external_ref} ({file_name}, line {refund.line})"
    posted = reverse_payment(session, payment_id, now=now, actor=actor, reason=reason[:500])
    return _with(found, REVERSED, posted.transaction_id)


def _with(outcome: RefundOutcome, status: str, reversal_id: int | None = None) -> RefundOutcome:
    return RefundOutcome(outcome.refund, status, outcome.payment_id, outcome.book_amount, reversal_id)
