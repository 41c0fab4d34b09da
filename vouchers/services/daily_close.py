"""Daily close (日结): one local business day, checked against the books and anchored in the audit chain.

For the local calendar day (``VOUCHER_TIMEZONE``):

* per channel: money in (payments and voucher redemptions booked that day),
  settlements into the bank and the fees the channels kept (the day of the
  settlement, as ``report channels`` counts them);
* the voucher liability roll-forward from the cards' lifecycle timestamps,
  opening + activated - redeemed - expired - voided = closing, checked
  against the ``voucher_liability`` balance the ledger gives at the day's
  start and end;
* the journal of the day: the postings of every transaction posted that day
  sum to zero (a posting removed or altered behind the ledger's back shows
  here, or in the liability check when it was on ``voucher_liability``);
* the audit chain's head at the end of the day (newest event, its hash,
  the count), which the edge signs as a checkpoint and prints on the report:
  the paper trail then pins the chain up to that event.

A day that does not balance is reported with each difference; the edge exits non-zero.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vouchers.books import chart
from vouchers.books.channels import CHANNELS
from vouchers.books.reports.channels import SETTLEMENT_SOURCE
from vouchers.books.reports.liability import RollForward, roll_forward
from vouchers.services.statements import Period, local_period
from vouchers.storage.audit import GENESIS
from vouchers.storage.audit_checkpoint import Checkpoint
from vouchers.storage.ledger_models import LedgerAccount, LedgerPosting, LedgerTransaction, Payment
from vouchers.storage.models import AuditEvent

@dataclass(frozen=True)
class ChannelDay:
    channel: str
    count: int  # payments booked (status booked)
    money_in: int
    settled: int  # into the bank
    fees: int  # kept by the channel when it settled


@dataclass(frozen=True)
class Difference:
    check: str
    amount: int  # books - expected, minor units
    detail: str


@dataclass
class DailyClose:
    day: dt.date
    tz: str
    currency: str
    period: Period
    channels: list[ChannelDay]
    liability: RollForward
    journal_imbalance: int  # sum of the day's postings (0 when every transaction balances)
    audit_head: Checkpoint
    differences: list[Difference] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return not self.differences

    @property
    def money_in(self) -> int:
        return sum(c.money_in for c in self.channels)

    @property
    def settled(self) -> int:
        return sum(c.settled for c in self.channels)

    @property
    def fees(self) -> int:
        return sum(c.fees for c in self.channels)


def chain_head_at(session: Session, instant: dt.datetime, now: dt.datetime) -> Checkpoint:
    """The audit chain's head as it stood at ``instant`` (the newest event before it), taken at ``now``."""
    row = session.execute(select(AuditEvent.id, AuditEvent.hash).where(AuditEvent.at < instant)
                          .order_by(AuditEvent.id.desc()).limit(1)).first()
    if row is None:
        return Checkpoint(0, GENESIS, 0, now)
    count = session.execute(select(func.count()).select_from(AuditEvent).where(AuditEvent.id <= row[0])).scalar_one()
    return Checkpoint(int(row[0]), row[1], int(count), now)


def _channels(session: Session, period: Period, currency: str) -> list[ChannelDay]:
    s, e = period.start, period.end
    paid = {ch: (int(n), int(a)) for ch, n, a in session.execute(
        select(Payment.channel, func.count(), func.sum(Payment.amount))
        .where(Payment.status == "booked", Payment.currency == currency, Payment.paid_at >= s, Payment.paid_at < e)
        .group_by(Payment.channel)).all()}
    settled: dict[str, list[int]] = {}
    for source, code, total in session.execute(
            select(LedgerTransaction.source, LedgerAccount.code, func.sum(LedgerPosting.amount))
            .join(LedgerPosting, LedgerPosting.transaction_id == LedgerTransaction.id)
            .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
            .where(LedgerTransaction.kind == "settlement", LedgerTransaction.source.startswith(SETTLEMENT_SOURCE),
                   LedgerPosting.currency == currency, LedgerAccount.code.in_((chart.BANK, chart.CHANNEL_FEES)),
                   LedgerTransaction.occurred_at >= s, LedgerTransaction.occurred_at < e)
            .group_by(LedgerTransaction.source, LedgerAccount.code)).all():
        cell = settled.setdefault(source[len(SETTLEMENT_SOURCE):], [0, 0])
        cell[0 if code == chart.BANK else 1] += int(total)
    order = {c: i for i, c in enumerate(CHANNELS)}
    names = sorted(set(paid) | set(settled), key=lambda c: (order.get(c, 99), c))
    return [ChannelDay(c, paid.get(c, (0, 0))[0], paid.get(c, (0, 0))[1], settled.get(c, [0, 0])[0],
                       settled.get(c, [0, 0])[1]) for c in names]


def daily_close(session: Session, day: dt.date, *, tz: str, currency: str, now: dt.datetime) -> DailyClose:
    """Close local ``day``: figures, checks (``differences``) and the audit head at the day's end."""
    period = local_period(day, day, tz)
    channels = _channels(session, period, currency)
    rf = roll_forward(session, period.start, period.end, currency)
    imbalance = int(session.execute(
        select(func.coalesce(func.sum(LedgerPosting.amount), 0))
        .join(LedgerTransaction, LedgerTransaction.id == LedgerPosting.transaction_id)
        .where(LedgerPosting.currency == currency, LedgerTransaction.posted_at >= period.start,
               LedgerTransaction.posted_at < period.end)).scalar_one())
    report = DailyClose(day, tz, currency, period, channels, rf, imbalance,
                        chain_head_at(session, period.end, now))
    report.differences = _differences(report)
    return report


def _differences(r: DailyClose) -> list[Difference]:
    out: list[Difference] = []
    rf = r.liability
    if rf.ledger_opening != rf.opening.amount:
        out.append(Difference("liability_opening", rf.ledger_opening - rf.opening.amount,
                              "voucher_liability in the books at the start of the day vs the active cards"))
    if rf.computed_closing != rf.closing.amount:
        out.append(Difference("liability_roll_forward", rf.closing.amount - rf.computed_closing,
                              "active cards at the end vs opening + activated - redeemed - expired - voided"))
    if rf.ledger_closing != rf.closing.amount:
        out.append(Difference("liability_closing", rf.ledger_closing - rf.closing.amount,
                              "voucher_liability in the books at the end of the day vs the active cards"))
    if r.journal_imbalance:
        out.append(Difference("journal", r.journal_imbalance,
                              "the postings of the day's transactions do not sum to zero (debits - credits)"))
    return out

