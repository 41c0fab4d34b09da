"""Customer electricity accounts (户号), their bills and balances."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from vouchers.books import chart, journal
from vouchers.books.accounts import ensure_accounts, lock_accounts
from vouchers.books.errors import AccountExists, IdempotencyConflict, InvalidAccountData, InvalidPayment, UnknownAccount
from vouchers.books.incoming import arrears_balance, book_incoming, open_bills, prepaid_balance, record_allocations
from vouchers.books.timeutil import utc
from vouchers.storage.ledger_models import CustomerAccount, CustomerBill
from vouchers.money import check_currency

ACCOUNT_NO = re.compile(r"^[0-9A-Za-z][0-9A-Za-z\-]{0,31}$")
BILL_REF = re.compile(r"^[0-9A-Za-z_.:\-]{1,64}$")
PHONE = re.compile(r"^\+?[0-9]{5,20}$")
OPENING_BILL = "opening"


@dataclass(frozen=True)
class BillView:
    bill_id: int
    bill_ref: str
    amount: int
    outstanding: int
    due_date: dt.date


@dataclass(frozen=True)
class AccountSummary:
    account_no: str
    name: str
    meter_no: str | None
    currency: str
    balance: int  # prepaid, positive = the customer's money with us
    arrears: int  # unpaid bills
    open_bills: tuple[BillView, ...]


@dataclass(frozen=True)
class BillResult:
    bill_id: int
    transaction_id: int
    created: bool
    applied_from_prepaid: int


def validate_account_no(account_no: str) -> str:
    if not isinstance(account_no, str) or not ACCOUNT_NO.match(account_no):
        raise InvalidAccountData(
            f"invalid account number {account_no!r}: 1-32 letters, digits or dashes")
    return account_no


def normalise_phone(phone: str) -> str:
    """A phone number as stored and searched: digits with an optional leading ``+`` (spaces, dashes dropped)."""
    value = "".join(phone.split()).replace("-", "") if isinstance(phone, str) else ""
    if not PHONE.match(value):
        raise InvalidAccountData("phone must be 5-20 digits, optionally with a leading + (spaces and dashes allowed)")
    return value


def normalise_address(address: str) -> str:
    """An address as stored and compared: spaces collapsed, case folded (two spellings of one address match)."""
    value = " ".join(address.split()).casefold() if isinstance(address, str) else ""
    if not value or len(value) > 200 or not value.isprintable():
        raise InvalidAccountData("address must be 1-200 printable characters")
    return value


def get_customer(session: Session, account_no: str) -> CustomerAccount:
    customer = None
    if isinstance(account_no, str) and ACCOUNT_NO.match(account_no):
        customer = session.execute(
            select(CustomerAccount).where(CustomerAccount.account_no == account_no)).scalar_one_or_none()
    if customer is None:
        raise UnknownAccount(f"unknown account {account_no!r}")
    return customer


def create_customer(session: Session, account_no: str, name: str, *, meter_no: str | None = None,
                    district: str | None = None, currency: str = "CNY", arrears: int = 0,
                    arrears_due: dt.date | None = None, now: dt.datetime, phone: str | None = None,
                    address: str | None = None) -> AccountSummary:
    """Open an account; ``arrears`` (minor units) becomes one opening bill due ``arrears_due``."""
    validate_account_no(account_no)
    if not isinstance(name, str) or not name.strip() or len(name) > 200 or not name.isprintable():
        raise InvalidAccountData("name is required (at most 200 printable characters)")
    if meter_no is not None and (not meter_no.strip() or len(meter_no) > 64 or not meter_no.isprintable()):
        raise InvalidAccountData("meter number must be 1-64 printable characters")
    if district is not None and (not district.strip() or len(district) > 64 or not district.isprintable()):
        raise InvalidAccountData("district must be 1-64 printable characters")
    check_currency(currency)
    phone = normalise_phone(phone) if phone is not None else None
    address = normalise_address(address) if address is not None else None
    if isinstance(arrears, bool) or not isinstance(arrears, int) or arrears < 0:
        raise InvalidAccountData("arrears must be zero or a positive amount")
    if arrears and arrears_due is None:
        raise InvalidAccountData("opening arrears need a due date")
    if session.execute(select(CustomerAccount.id).where(CustomerAccount.account_no == account_no)).first():
        raise AccountExists(f"account {account_no} already exists")
    ids = ensure_accounts(session, [(chart.customer_arrears(account_no), currency),
                                    (chart.customer_prepaid(account_no), currency)], now)
    customer = CustomerAccount(
        account_no=account_no, name=name.strip(), meter_no=meter_no.strip() if meter_no else None,
        phone=phone, district=district.strip() if district else None, address=address, currency=currency,
        arrears_account_id=ids[(chart.customer_arrears(account_no), currency)],
        prepaid_account_id=ids[(chart.customer_prepaid(account_no), currency)], created_at=utc(now))
    session.add(customer)
    session.flush()
    if arrears:
        assert arrears_due is not None
        issue_bill(session, account_no, arrears, due_date=arrears_due, bill_ref=OPENING_BILL, now=now,
                   memo="opening arrears")
    return customer_summary(session, account_no)


def customer_summary(session: Session, account_no: str) -> AccountSummary:
    customer = get_customer(session, account_no)
    bills = session.execute(
        select(CustomerBill).where(CustomerBill.customer_id == customer.id, CustomerBill.outstanding > 0)
        .order_by(CustomerBill.due_date, CustomerBill.id)).scalars()
    return AccountSummary(
        account_no=customer.account_no, name=customer.name, meter_no=customer.meter_no, currency=customer.currency,
        balance=prepaid_balance(session, customer), arrears=arrears_balance(session, customer),
        open_bills=tuple(BillView(b.id, b.bill_ref, b.amount, b.outstanding, b.due_date) for b in bills))


def issue_bill(session: Session, account_no: str, amount: int, *, due_date: dt.date, bill_ref: str,
               now: dt.datetime, memo: str | None = None, actor: str | None = None) -> BillResult:
    """Bill electricity (Dr arrears / Cr revenue), then settle it from any prepaid balance.

    Idempotent by (account, bill_ref): the same bill again returns the original.
    """
    customer = get_customer(session, account_no)
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise InvalidPayment("a bill amount must be a positive integer of minor units")
    if not isinstance(bill_ref, str) or not BILL_REF.match(bill_ref):
        raise InvalidAccountData("bill reference must be 1-64 letters, digits or _ . : -")
    if not isinstance(due_date, dt.date):
        raise InvalidAccountData("due date must be a date")
    currency = customer.currency
    arrears_code, prepaid_code = chart.customer_arrears(account_no), chart.customer_prepaid(account_no)
    ids = ensure_accounts(session, [(chart.REVENUE, currency)], now)
    ids[(arrears_code, currency)] = customer.arrears_account_id
    ids[(prepaid_code, currency)] = customer.prepaid_account_id
    lock_accounts(session, ids.values())
    transaction_id, created = journal.claim(
        session, kind="bill", source="bill", external_ref=f"{account_no}:{bill_ref}", occurred_at=now, now=now,
        actor=actor, memo=memo)
    if not created:
        bill = session.execute(select(CustomerBill).where(CustomerBill.transaction_id == transaction_id)).scalar_one()
        if bill.amount != amount or bill.due_date != due_date:
            raise IdempotencyConflict(f"bill {bill_ref} of {account_no} already exists with another amount or date")
        return BillResult(bill.id, transaction_id, False, 0)
    journal.add_postings(session, transaction_id, [journal.debit(arrears_code, amount, currency),
                                                   journal.credit(chart.REVENUE, amount, currency)], ids)
    bill = CustomerBill(customer_id=customer.id, bill_ref=bill_ref, amount=amount, outstanding=amount,
                        due_date=due_date, issued_at=utc(now), transaction_id=transaction_id)
    session.add(bill)
    session.flush()
    applied = apply_prepaid(session, customer, now=now, trigger=f"bill:{transaction_id}")
    return BillResult(bill.id, transaction_id, True, applied)


def apply_prepaid(session: Session, customer: CustomerAccount, *, now: dt.datetime, trigger: str) -> int:
    """Use prepaid balance to pay open bills (oldest first). Returns the amount applied."""
    available = prepaid_balance(session, customer)
    owed = sum(b.outstanding for b in open_bills(session, customer.id))
    amount = min(available, owed)
    if amount <= 0:
        return 0
    booked = book_incoming(session, customer, debit_account=chart.customer_prepaid(customer.account_no),
                           amount=amount, currency=customer.currency, kind="prepaid_applied",
                           source="prepaid_applied", external_ref=trigger, occurred_at=now, now=now,
                           memo="prepaid balance applied to bills")
    if not booked.created:
        return 0
    assert booked.allocation is not None
    record_allocations(session, booked.transaction_id, booked.allocation.to_bills)
    return amount
