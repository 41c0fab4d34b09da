"""Lists finance and customer service page through: account search and the payments subledger.

One function per use case; the CLI (`accounts search`, `payments list`) and
the API (`GET /api/v1/accounts`, `GET /api/v1/payments`) only parse and format.
Results are pages (``limit``/``offset``) with the total number of matches.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from vouchers.books.channels import get_channel
from vouchers.books.customers import ACCOUNT_NO, normalise_phone
from vouchers.books.incoming import arrears_balance, prepaid_balance
from vouchers.books.timeutil import end_of_day, from_db, start_of_day
from vouchers.errors import VoucherError
from vouchers.storage.ledger_models import CustomerAccount, Payment

MAX_LIMIT = 500
DEFAULT_LIMIT = 50
_TEXT_MAX = 100


class InvalidQuery(VoucherError, ValueError):
    """A list or search request that cannot be answered as asked (bad filter, limit, period)."""

    code = "invalid_query"


def check_page(limit: int, offset: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidQuery(f"limit must be 1..{MAX_LIMIT}")
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= 10_000_000:
        raise InvalidQuery("offset must be 0 or more")


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def mask_phone(phone: str | None) -> str | None:
    """``13812345678`` -> ``138****5678``: enough for the holder to recognise, not to read off a screen."""
    if not phone:
        return None
    keep = 3 if len(phone) > 7 else 1
    return phone[:keep] + "*" * max(len(phone) - keep - 4, 1) + phone[-4:]


# --- account search -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountQuery:
    """What to look for; every given field must match (``text`` matches any of number, name, meter, phone)."""

    text: str | None = None
    account_no: str | None = None  # exact, or a prefix
    name: str | None = None  # part of the name, case-insensitive
    meter_no: str | None = None  # exact
    phone: str | None = None  # the whole number

    def empty(self) -> bool:
        return not any((self.text, self.account_no, self.name, self.meter_no, self.phone))


@dataclass(frozen=True)
class AccountHit:
    account_no: str
    name: str
    meter_no: str | None
    phone_masked: str | None
    currency: str
    balance: int
    arrears: int
    created_at: dt.datetime


@dataclass(frozen=True)
class Page:
    total: int
    limit: int
    offset: int
    items: tuple  # type: ignore[type-arg]


def _clean(value: str | None, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > _TEXT_MAX or not value.isprintable():
        raise InvalidQuery(f"{what} must be at most {_TEXT_MAX} printable characters")
    return value.strip() or None


def search_accounts(session: Session, query: AccountQuery, *, limit: int = DEFAULT_LIMIT,
                    offset: int = 0) -> Page:
    """Accounts matching ``query``, by account number; refused when nothing is asked (no full dumps)."""
    check_page(limit, offset)
    q = AccountQuery(*(_clean(v, w) for v, w in ((query.text, "search text"), (query.account_no, "account number"),
                                                  (query.name, "name"), (query.meter_no, "meter"),
                                                  (query.phone, "phone"))))
    if q.empty():
        raise InvalidQuery("give something to search for: text, account number, name, meter or phone")
    c = CustomerAccount
    conditions = []
    if q.account_no:
        if not ACCOUNT_NO.match(q.account_no):
            raise InvalidQuery("account number: 1-32 letters, digits or dashes")
        conditions.append(c.account_no.startswith(q.account_no, autoescape=True))
    if q.name:
        conditions.append(func.lower(c.name).like(f"%{_like_escape(q.name.lower())}%", escape="\\"))
    if q.meter_no:
        conditions.append(c.meter_no == q.meter_no)
    if q.phone:
        try:
            conditions.append(c.phone == normalise_phone(q.phone))
        except VoucherError as e:
            raise InvalidQuery(str(e)) from e
    if q.text:
        either = [func.lower(c.name).like(f"%{_like_escape(q.text.lower())}%", escape="\\"), c.meter_no == q.text]
        if ACCOUNT_NO.match(q.text):
            either.append(c.account_no.startswith(q.text, autoescape=True))
        try:
            either.append(c.phone == normalise_phone(q.text))
        except VoucherError:
            pass
        conditions.append(or_(*either))
    where = and_(*conditions)
    total = session.execute(select(func.count()).select_from(c).where(where)).scalar_one()
    rows = session.execute(select(c).where(where).order_by(c.account_no).limit(limit).offset(offset)).scalars().all()
    items = tuple(AccountHit(r.account_no, r.name, r.meter_no, mask_phone(r.phone), r.currency,
                             prepaid_balance(session, r), arrears_balance(session, r),
                             from_db(r.created_at) or r.created_at) for r in rows)
    return Page(int(total), limit, offset, items)


# --- payments list ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentFilter:
    channel: str | None = None
    date_from: dt.date | None = None  # local days, inclusive
    date_to: dt.date | None = None
    external_ref: str | None = None  # exact
    account_no: str | None = None


@dataclass(frozen=True)
class PaymentRow:
    payment_id: int
    channel: str
    external_ref: str
    account_no: str
    amount: int
    currency: str
    applied_to_arrears: int
    paid_at: dt.datetime
    status: str
    import_id: int | None
    transaction_id: int


def list_payments(session: Session, filters: PaymentFilter, *, tz: str, limit: int = DEFAULT_LIMIT,
                  offset: int = 0) -> Page:
    """Booked and reversed payments (voucher redemptions are channel ``voucher``), newest first."""
    check_page(limit, offset)
    conditions = []
    if filters.channel is not None:
        try:
            conditions.append(Payment.channel == get_channel(filters.channel).code)
        except VoucherError as e:
            raise InvalidQuery(str(e)) from e
    if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
        raise InvalidQuery(f"from {filters.date_from} is after to {filters.date_to}")
    try:
        if filters.date_from is not None:
            conditions.append(Payment.paid_at >= start_of_day(filters.date_from, tz))
        if filters.date_to is not None:
            conditions.append(Payment.paid_at < end_of_day(filters.date_to, tz))
    except OverflowError as e:
        raise InvalidQuery("the dates are out of range") from e
    ref = _clean(filters.external_ref, "ref")
    if ref is not None:
        conditions.append(Payment.external_ref == ref)
    account = _clean(filters.account_no, "account")
    if account is not None:
        conditions.append(CustomerAccount.account_no == account)
    base = select(Payment, CustomerAccount.account_no).join(CustomerAccount, CustomerAccount.id == Payment.customer_id)
    if conditions:
        base = base.where(*conditions)
    total = session.execute(select(func.count()).select_from(base.subquery())).scalar_one()
    rows = session.execute(base.order_by(Payment.paid_at.desc(), Payment.id.desc()).limit(limit).offset(offset)).all()
    items = tuple(PaymentRow(p.id, p.channel, p.external_ref, account_no, p.amount, p.currency, p.applied_to_arrears,
                             from_db(p.paid_at) or p.paid_at, p.status, p.import_id, p.transaction_id)
                  for p, account_no in rows)
    return Page(int(total), limit, offset, items)
