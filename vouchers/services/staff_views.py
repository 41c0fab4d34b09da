"""Read models of the console pages for customer service and distributor staff.

Customer service finds an account by its number (户号), name or meter and sees
its balance, arrears, open bills, latest payments and redemptions (each lookup
is audited by the edge: who looked at whose account). Distributor staff see
their own distributor's stock only: the distributor comes from the staff
account, never from the request, so no URL reaches another distributor's cards.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from vouchers.books.customers import AccountSummary, customer_summary
from vouchers.storage.api_models import Redemption
from vouchers.storage.ledger_models import CustomerAccount, Payment
from vouchers.storage.models import Batch, Voucher

SEARCH_LIMIT = 20


@dataclass(frozen=True)
class Found:
    account_no: str
    name: str
    meter_no: str | None


@dataclass
class AccountView:
    summary: AccountSummary
    payments: list[tuple[dt.datetime, str, int, str]] = field(default_factory=list)  # paid_at, channel, amount, status
    redemptions: list[tuple[dt.datetime, str, int, str]] = field(default_factory=list)  # at, serial, amount, channel


def find_accounts(session: Session, query: str) -> list[Found]:
    """Accounts whose number or meter equals ``query``, or whose name contains it."""
    query = (query or "").strip()[:100]
    if not query:
        return []
    escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = session.execute(select(CustomerAccount.account_no, CustomerAccount.name, CustomerAccount.meter_no)
                           .where(or_(CustomerAccount.account_no == query, CustomerAccount.meter_no == query,
                                      CustomerAccount.name.like(f"%{escaped}%", escape="\\")))
                           .order_by(CustomerAccount.account_no).limit(SEARCH_LIMIT)).all()
    return [Found(*r) for r in rows]


def account_view(session: Session, account_no: str, *, recent: int = 20) -> AccountView:
    """Raises the books' ``CustomerNotFound`` for an unknown account."""
    view = AccountView(customer_summary(session, account_no))
    customer_id = select(CustomerAccount.id).where(CustomerAccount.account_no == account_no).scalar_subquery()
    view.payments = [tuple(r) for r in session.execute(
        select(Payment.paid_at, Payment.channel, Payment.amount, Payment.status)
        .where(Payment.customer_id == customer_id).order_by(Payment.paid_at.desc()).limit(recent))]
    view.redemptions = [tuple(r) for r in session.execute(
        select(Redemption.redeemed_at, Redemption.serial, Redemption.amount, Redemption.channel)
        .where(Redemption.account_no == account_no).order_by(Redemption.redeemed_at.desc()).limit(recent))]
    return view


@dataclass(frozen=True)
class StockLine:
    batch_id: str
    face_value: int
    currency: str
    status: str
    count: int


def distributor_stock(session: Session, distributor_id: str) -> list[StockLine]:
    """Cards that are ``distributor_id``'s stock, by batch and card status."""
    rows = session.execute(select(Batch.batch_id, Batch.face_value, Batch.currency, Voucher.status, func.count())
                           .join(Batch, Batch.id == Voucher.batch_pk)
                           .where(Voucher.consigned_to == distributor_id)
                           .group_by(Batch.batch_id, Batch.face_value, Batch.currency, Voucher.status)
                           .order_by(Batch.batch_id, Voucher.status)).all()
    return [StockLine(b, int(f), c, s, int(n)) for b, f, c, s, n in rows]


def distributor_batch(session: Session, distributor_id: str, batch_id: str) -> list[tuple[str, str]] | None:
    """(serial, status) of ``distributor_id``'s cards in one batch; None when it holds none there
    (the same answer for a batch of another distributor and for no batch at all)."""
    rows = session.execute(select(Voucher.serial, Voucher.status).join(Batch, Batch.id == Voucher.batch_pk)
                           .where(Batch.batch_id == batch_id, Voucher.consigned_to == distributor_id)
                           .order_by(Voucher.serial).limit(1000)).all()
    return [(s, st) for s, st in rows] or None
