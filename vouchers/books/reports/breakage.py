"""Breakage: value of cards that expired unredeemed, per month and batch."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vouchers.books import chart
from vouchers.books.reports.channels import share
from vouchers.books.reports.liability import ledger_balance_as_of
from vouchers.books.reports.periods import local_bucket
from vouchers.books.timeutil import utc
from vouchers.storage.ledger_models import vouchers_lifecycle as V
from vouchers.storage.models import Batch


@dataclass(frozen=True)
class BreakageLine:
    month: str
    batch_id: str
    count: int
    amount: int
    activated: int  # face value of the batch's activated cards
    rate: str  # percent of the activated value that expired


@dataclass
class BreakageReport:
    start: dt.datetime
    end: dt.datetime
    currency: str
    lines: list[BreakageLine] = field(default_factory=list)
    count: int = 0
    amount: int = 0
    ledger_income: int = 0  # income:breakage credited in the period


def breakage_report(session: Session, *, start: dt.datetime, end: dt.datetime, currency: str,
                    tz: str) -> BreakageReport:
    s, e = utc(start), utc(end)
    month = local_bucket(session, V.c.expired_at, tz, "month", s).label("month")
    rows = session.execute(
        select(month, Batch.batch_id, func.count(), func.sum(V.c.face_value))
        .join(Batch, Batch.id == V.c.batch_pk)
        .where(V.c.currency == currency, V.c.expired_at >= s, V.c.expired_at < e)
        .group_by(month, Batch.batch_id).order_by(month, Batch.batch_id)).all()
    activated = dict(session.execute(
        select(Batch.batch_id, func.sum(V.c.face_value)).join(Batch, Batch.id == V.c.batch_pk)
        .where(V.c.activated_at.is_not(None), V.c.currency == currency).group_by(Batch.batch_id)).all())
    report = BreakageReport(s, e, currency)
    for m, batch_id, n, amount in rows:
        sold = int(activated.get(batch_id, 0))
        report.lines.append(BreakageLine(m, batch_id, int(n), int(amount), sold, share(int(amount), sold)))
        report.count += int(n)
        report.amount += int(amount)
    report.ledger_income = (ledger_balance_as_of(session, chart.BREAKAGE, currency, e)
                            - ledger_balance_as_of(session, chart.BREAKAGE, currency, s))
    return report
