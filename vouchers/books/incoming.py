"""Money arriving on a customer account: arrears first (oldest bill first), rest prepaid.

Shared by channel payments, voucher redemptions and prepaid balance applied
to new bills. Order of work, which keeps concurrent writers deadlock-free:
lock the three balance rows (ascending id) -> claim the idempotency key ->
read the open bills -> post -> move the bills.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session

from vouchers.books import chart, journal
from vouchers.books.accounts import balance_by_id, ensure_account, lock_accounts
from vouchers.books.allocation import Allocation, OpenBill, allocate
from vouchers.books.errors import CurrencyMismatch
from vouchers.storage.ledger_models import BillAllocation, CustomerAccount, CustomerBill


@dataclass(frozen=True)
class Booked:
    transaction_id: int
    created: bool
    allocation: Allocation | None  # None when the key was already booked


def open_bills(session: Session, customer_id: int) -> list[OpenBill]:
    rows = session.execute(
        select(CustomerBill.id, CustomerBill.due_date, CustomerBill.outstanding)
        .where(CustomerBill.customer_id == customer_id, CustomerBill.outstanding > 0)
        .order_by(CustomerBill.due_date, CustomerBill.id)
    ).all()
    return [OpenBill(int(i), d, int(o)) for i, d, o in rows]


def move_bills(session: Session, parts: tuple[tuple[int, int], ...] | list[tuple[int, int]], sign: int = -1) -> None:
    """Reduce (sign -1) or restore (+1) the bills' outstanding amounts."""
    if not parts:
        return
    table = CustomerBill.__table__
    session.connection().execute(
        table.update().where(table.c.id == bindparam("bid"))
        .values(outstanding=table.c.outstanding + bindparam("delta")),
        [{"bid": bill_id, "delta": sign * amount} for bill_id, amount in sorted(parts)])


def record_allocations(session: Session, transaction_id: int, parts: tuple[tuple[int, int], ...] | list[tuple[int, int]],
                       *, payment_id: int | None = None, sign: int = 1) -> None:
    """Remember which bills a transaction (and payment) paid: ``sign`` -1 records a restoration."""
    if parts:
        session.connection().execute(insert(BillAllocation.__table__), [
            {"transaction_id": transaction_id, "payment_id": payment_id, "bill_id": bill_id, "amount": sign * amount}
            for bill_id, amount in parts])


def book_incoming(session: Session, customer: CustomerAccount, *, debit_account: str, amount: int, currency: str,
                  kind: str, source: str, external_ref: str, occurred_at: dt.datetime, now: dt.datetime,
                  actor: str | None = None, memo: str | None = None, extra_lock_ids: tuple[int, ...] = ()) -> Booked:
    """Dr ``debit_account``; Cr the customer's arrears (oldest bill first), rest Cr prepaid.

    Moves the bills; the caller records the allocations (with its payment id, if any).
    """
    if currency != customer.currency:
        raise CurrencyMismatch(f"account {customer.account_no} is in {customer.currency}, not {currency}")
    debit_id = ensure_account(session, debit_account, currency, now)
    lock_accounts(session, (debit_id, customer.arrears_account_id, customer.prepaid_account_id, *extra_lock_ids))
    transaction_id, created = journal.claim(session, kind=kind, source=source, external_ref=external_ref,
                                            occurred_at=occurred_at, now=now, actor=actor, memo=memo)
    if not created:
        return Booked(transaction_id, False, None)
    allocation = allocate(amount, open_bills(session, customer.id))
    arrears_code = chart.customer_arrears(customer.account_no)
    prepaid_code = chart.customer_prepaid(customer.account_no)
    legs = [journal.debit(debit_account, amount, currency)]
    if allocation.to_arrears:
        legs.append(journal.credit(arrears_code, allocation.to_arrears, currency))
    if allocation.to_prepaid:
        legs.append(journal.credit(prepaid_code, allocation.to_prepaid, currency))
    journal.add_postings(session, transaction_id, legs, {
        (debit_account, currency): debit_id,
        (arrears_code, currency): customer.arrears_account_id,
        (prepaid_code, currency): customer.prepaid_account_id,
    })
    move_bills(session, allocation.to_bills)
    return Booked(transaction_id, True, allocation)


def prepaid_balance(session: Session, customer: CustomerAccount) -> int:
    """Prepaid balance on its normal (credit) side: positive = the customer has money with us."""
    return -balance_by_id(session, customer.prepaid_account_id)


def arrears_balance(session: Session, customer: CustomerAccount) -> int:
    return balance_by_id(session, customer.arrears_account_id)

