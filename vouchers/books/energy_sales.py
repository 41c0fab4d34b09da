"""Energy sold as a token: the credit left the prepaid balance for the customer's meter.

When an STS keypad-meter token is vended for money (a redemption, a channel
payment, a counter sale), the electricity has been delivered to the meter: the
money is no longer the customer's prepaid balance, it is revenue.

    Dr customer_prepaid:<account_no>   amount
    Cr revenue:electricity             amount

One journal transaction per vend, kind ``energy_sale``, source ``energy_sale``,
external_ref chosen by the caller (``sts_vend:<vend id>``): idempotent like every
other posting (the same reference again returns the original; with another
amount it raises :class:`~vouchers.books.errors.IdempotencyConflict`). The prepaid
balance must cover the sale (:class:`InsufficientPrepaid`, nothing booked):
callers credit the money first (payment, redemption) in the same database
transaction. ``revenue:electricity`` is a shared account: its row moves at
commit (:func:`vouchers.books.journal.defer_shared_deltas`, done by the journal).

Correction: :func:`reverse_energy_sale` books the exact mirror through the
journal's reversal mechanism (kind ``reversal``, source ``reversal``,
external_ref = the original id, ``reverses_id`` set; at most once, checked by
``ledger verify``). The token itself cannot be taken back from the meter.

Lock order (as everywhere in the books): the customer's balance rows are
locked before anything is claimed; callers that also update STS meter rows call
:func:`reserve_prepaid` *before* touching the meter row, so every writer takes
customer rows -> meter row -> shared rows (at commit).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from vouchers.books import chart, journal
from vouchers.books.accounts import ensure_account, lock_accounts
from vouchers.books.corrections import reverse_transaction
from vouchers.books.customers import get_customer
from vouchers.books.errors import InvalidPosting, LedgerError, ReversalNotAllowed
from vouchers.books.incoming import prepaid_balance
from vouchers.books.timeutil import utc
from vouchers.storage.ledger_models import CustomerAccount

KIND = "energy_sale"
SOURCE = "energy_sale"


class InsufficientPrepaid(LedgerError):
    """The customer's prepaid balance does not cover the energy sold; nothing was booked."""

    code = "insufficient_prepaid_balance"


@dataclass(frozen=True)
class EnergySale:
    transaction_id: int
    account_no: str
    amount: int
    currency: str
    balance: int  # prepaid balance (normal side) after the sale, as this transaction sees it
    created: bool  # False: this reference was booked before (an idempotent repeat)


def _amount(amount: int) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidPosting("an energy sale is integer minor units")
    if amount <= 0:
        raise InvalidPosting(f"an energy sale must be greater than zero, got {amount}")
    return amount


def reserve_prepaid(session: Session, account_no: str, amount: int) -> CustomerAccount:
    """Lock the customer's balance rows and check the prepaid balance covers ``amount``.

    Call it before anything else of the sale is written (TID records, vend log):
    a refusal then leaves nothing to undo but the caller's transaction.
    """
    _amount(amount)
    customer = get_customer(session, account_no)
    lock_accounts(session, (customer.arrears_account_id, customer.prepaid_account_id))
    available = prepaid_balance(session, customer)
    if available < amount:
        raise InsufficientPrepaid(
            f"account {account_no}: the prepaid balance does not cover the energy sold "
            f"(needs {amount}, has {available} minor units)")
    return customer


def book_energy_sale(session: Session, account_no: str, amount: int, *, external_ref: str,
                     occurred_at: dt.datetime, now: dt.datetime, actor: str | None = None,
                     memo: str | None = None) -> EnergySale:
    """Dr the customer's prepaid balance, Cr electricity revenue (idempotent by ``external_ref``)."""
    _amount(amount)
    customer = get_customer(session, account_no)
    existing = journal.find(session, SOURCE, external_ref)
    if existing is None:
        reserve_prepaid(session, account_no, amount)
    revenue_id = ensure_account(session, chart.REVENUE, customer.currency, now)
    ids = {(chart.customer_prepaid(account_no), customer.currency): customer.prepaid_account_id,
           (chart.REVENUE, customer.currency): revenue_id}
    legs = (journal.debit(chart.customer_prepaid(account_no), amount, customer.currency),
            journal.credit(chart.REVENUE, amount, customer.currency))
    if existing is not None:
        posted = journal.post(session, journal.Entry(KIND, SOURCE, external_ref, legs, occurred_at, actor, memo),
                              now=now)  # compares with the original: same -> it, other -> IdempotencyConflict
        return EnergySale(posted.transaction_id, account_no, amount, customer.currency,
                          prepaid_balance(session, customer), False)
    transaction_id, created = journal.claim(session, kind=KIND, source=SOURCE, external_ref=external_ref,
                                            occurred_at=utc(occurred_at), now=now, actor=actor, memo=memo)
    if not created:  # booked concurrently by another writer while we waited for the locks
        posted = journal.post(session, journal.Entry(KIND, SOURCE, external_ref, legs, occurred_at, actor, memo),
                              now=now)
        return EnergySale(posted.transaction_id, account_no, amount, customer.currency,
                          prepaid_balance(session, customer), False)
    journal.add_postings(session, transaction_id, legs, ids)
    return EnergySale(transaction_id, account_no, amount, customer.currency, prepaid_balance(session, customer),
                      True)


def reverse_energy_sale(session: Session, transaction_id: int, *, now: dt.datetime, actor: str,
                        reason: str) -> journal.Posted:
    """Book the exact mirror of an energy sale (the money goes back to the prepaid balance), once.

    The same reversal ``voucherctl ledger reverse`` books, refused for any other kind of transaction.
    """
    if not isinstance(reason, str) or not reason.strip():
        raise ReversalNotAllowed("a reason is required to reverse a transaction")
    original = journal.get(session, transaction_id)
    if original.kind != KIND or original.source != SOURCE:
        raise ReversalNotAllowed(f"transaction {transaction_id} is a {original.kind}, not an energy sale")
    return reverse_transaction(session, transaction_id, now=now, actor=actor, reason=reason)
