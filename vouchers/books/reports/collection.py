"""Collection rate per month: money applied to bills ÷ money billed."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vouchers.books.reports.channels import share
from vouchers.books.reports.periods import local_bucket
from vouchers.books.timeutil import utc
from vouchers.storage.ledger_models import BillAllocation, CustomerAccount, CustomerBill, LedgerTransaction


@dataclass(frozen=True)
class CollectionLine:
    month: str
    billed: int
    collected: int  # applied to bills in the month (any bill), net of payment reversals
    rate: str


@dataclass
class CollectionReport:
    start: dt.datetime
    end: dt.datetime
    currency: str
    lines: list[CollectionLine] = field(default_factory=list)


def collection_report(session: Session, *, start: dt.datetime, end: dt.datetime, currency: str,
                      tz: str) -> CollectionReport:
    s, e = utc(start), utc(end)
    billed_month = local_bucket(session, CustomerBill.issued_at, tz, "month", s).label("m")
    billed = session.execute(
        select(billed_month, func.sum(CustomerBill.amount)).join(CustomerAccount)
        .join(LedgerTransaction, LedgerTransaction.id == CustomerBill.transaction_id)
        .where(CustomerAccount.currency == currency, CustomerBill.issued_at >= s, CustomerBill.issued_at < e)
        .group_by(billed_month)).all()
    paid_month = local_bucket(session, LedgerTransaction.posted_at, tz, "month", s).label("m")
    collected = session.execute(
        select(paid_month, func.sum(BillAllocation.amount))
        .join(LedgerTransaction, LedgerTransaction.id == BillAllocation.transaction_id)
        .join(CustomerBill, CustomerBill.id == BillAllocation.bill_id).join(CustomerAccount)
        .where(CustomerAccount.currency == currency, LedgerTransaction.posted_at >= s,
               LedgerTransaction.posted_at < e,
               # a cancelled bill is not money collected (its reversal closes the bill)
               ~((LedgerTransaction.kind == "reversal") & (BillAllocation.amount > 0)))
        .group_by(paid_month)).all()
    months: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for m, amount in billed:
        months[m][0] += int(amount)
    for m, amount in collected:
        months[m][1] += int(amount)
    report = CollectionReport(s, e, currency)
    for m in sorted(months):
        b, c = months[m]
        report.lines.append(CollectionLine(m, b, c, share(c, b)))
    return report
