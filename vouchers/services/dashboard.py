"""The console's dashboard figures: one read-only query set, the same numbers the reports give.

Liability from the ledger (``voucher_liability``), today's redemptions and
payments by channel (local day), this month's collection rate (the collection
report's own line), fraud alerts of the last seven days, and the newest
``ledger.verify`` event of the audit chain (run from the console).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vouchers.books import chart
from vouchers.books.reports.collection import collection_report
from vouchers.books.reports.liability import ledger_balance_as_of
from vouchers.books.timeutil import local_date, start_of_day
from vouchers.storage.api_models import FraudAlert, Redemption
from vouchers.storage.ledger_models import Payment
from vouchers.storage.models import AuditEvent

ALERT_DAYS = 7


@dataclass(frozen=True)
class ChannelLine:
    channel: str
    count: int
    amount: int


@dataclass
class Dashboard:
    currency: str
    liability: int
    redemptions: list[ChannelLine] = field(default_factory=list)
    payments: list[ChannelLine] = field(default_factory=list)
    billed_this_month: int = 0
    collected_this_month: int = 0
    collection_rate: str | None = None
    open_alerts: int = 0
    last_verify_at: dt.datetime | None = None
    last_verify_ok: bool | None = None


def _by_channel(session: Session, channel, amount, at, start: dt.datetime, end: dt.datetime,
                *where) -> list[ChannelLine]:
    rows = session.execute(select(channel, func.count(), func.coalesce(func.sum(amount), 0))
                           .where(at >= start, at < end, *where).group_by(channel).order_by(channel)).all()
    return [ChannelLine(c, int(n), int(a)) for c, n, a in rows]


def dashboard(session: Session, *, now: dt.datetime, tz: str, currency: str) -> Dashboard:
    today = local_date(now, tz)
    day_start = start_of_day(today, tz)
    day_end = start_of_day(today + dt.timedelta(days=1), tz)
    board = Dashboard(currency, ledger_balance_as_of(session, chart.VOUCHER_LIABILITY, currency,
                                                     now + dt.timedelta(microseconds=1)))
    board.redemptions = _by_channel(session, Redemption.channel, Redemption.amount, Redemption.redeemed_at,
                                    day_start, day_end, Redemption.currency == currency)
    board.payments = _by_channel(session, Payment.channel, Payment.amount, Payment.paid_at, day_start, day_end,
                                 Payment.currency == currency)
    month_start = start_of_day(today.replace(day=1), tz)
    report = collection_report(session, start=month_start, end=day_end, currency=currency, tz=tz)
    for line in report.lines:
        board.billed_this_month += line.billed
        board.collected_this_month += line.collected
    if report.lines:
        board.collection_rate = report.lines[-1].rate
    board.open_alerts = session.execute(select(func.count()).select_from(FraudAlert)
                                        .where(FraudAlert.at >= now - dt.timedelta(days=ALERT_DAYS))).scalar_one()
    last = session.execute(select(AuditEvent).where(AuditEvent.action == "ledger.verify")
                           .order_by(AuditEvent.id.desc()).limit(1)).scalar_one_or_none()
    if last is not None:
        board.last_verify_at, board.last_verify_ok = last.at, last.to_state == "ok"
    return board
