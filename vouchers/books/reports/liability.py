"""Voucher liability as of an instant: by batch, face value, distributor, age; roll-forward.

Cards are counted from their lifecycle timestamps (activated_at, redeemed_at,
expired_at, voided_at), the books from the postings on ``voucher_liability``
posted before the instant; both are reported so finance sees any gap.
An instant is an exclusive bound: "as of 2026-11-30" is the end of that
local day, i.e. the first instant of 2026-12-01.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import and_, case, func, literal, or_, select
from sqlalchemy.orm import Session

from vouchers.books import chart
from vouchers.books.timeutil import utc
from vouchers.storage.ledger_models import LedgerAccount, LedgerPosting, LedgerTransaction
from vouchers.storage.ledger_models import vouchers_lifecycle as V
from vouchers.storage.models import Batch

AGING_DAYS = ((30, "0-30"), (90, "31-90"), (180, "91-180"), (365, "181-365"))
OLDEST_BUCKET = ">365"
BUCKETS = tuple(label for _, label in AGING_DAYS) + (OLDEST_BUCKET,)


@dataclass(frozen=True)
class Line:
    key: str
    count: int
    amount: int


@dataclass(frozen=True)
class RollForward:
    start: dt.datetime
    end: dt.datetime
    opening: Line
    activated: Line
    redeemed: Line
    expired: Line
    voided: Line
    closing: Line
    ledger_opening: int
    ledger_closing: int
    # money held for fraud review (liability:held_funds): no card's liability any more, no customer's yet
    held_opening: int = 0
    held_closing: int = 0

    @property
    def computed_closing(self) -> int:
        return (self.opening.amount + self.activated.amount - self.redeemed.amount - self.expired.amount
                - self.voided.amount)

    @property
    def closes(self) -> bool:
        """opening + activated - redeemed - expired - voided == closing (cards and books agree)."""
        counts = (self.opening.count + self.activated.count - self.redeemed.count - self.expired.count
                  - self.voided.count)
        return (self.computed_closing == self.closing.amount and counts == self.closing.count
                and self.ledger_closing == self.closing.amount and self.ledger_opening == self.opening.amount)


@dataclass
class LiabilityReport:
    as_of: dt.datetime
    currency: str
    active_count: int = 0
    total: int = 0
    ledger_balance: int = 0
    by_batch: list[dict[str, object]] = field(default_factory=list)
    by_face_value: list[Line] = field(default_factory=list)
    by_distributor: list[Line] = field(default_factory=list)
    aging: list[Line] = field(default_factory=list)
    past_last_valid_day: Line = Line("past_last_valid_day", 0, 0)
    roll_forward: RollForward | None = None


def _active_at(instant: dt.datetime):
    """SQL condition: the card was active at ``instant`` (exclusive bound)."""
    t = utc(instant)

    def still_open(column):
        return or_(column.is_(None), column >= t)

    return and_(V.c.activated_at.is_not(None), V.c.activated_at < t,
                still_open(V.c.redeemed_at), still_open(V.c.expired_at), still_open(V.c.voided_at),
                # a card redeemed/expired without a timestamp left the liability at an unknown time: never active
                ~and_(V.c.status == "redeemed", V.c.redeemed_at.is_(None)),
                ~and_(V.c.status == "expired", V.c.expired_at.is_(None)))


def ledger_balance_as_of(session: Session, code: str, currency: str, instant: dt.datetime) -> int:
    """Balance on the normal side from postings of transactions posted before ``instant``."""
    total = session.execute(
        select(func.coalesce(func.sum(LedgerPosting.amount), 0))
        .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
        .join(LedgerTransaction, LedgerTransaction.id == LedgerPosting.transaction_id)
        .where(LedgerAccount.code == code, LedgerAccount.currency == currency,
               LedgerTransaction.posted_at < utc(instant))).scalar_one()
    return chart.normal_balance(code, int(total))


def _count_sum(session: Session, currency: str, *conditions) -> Line:
    count, amount = session.execute(
        select(func.count(), func.coalesce(func.sum(V.c.face_value), 0))
        .where(V.c.currency == currency, *conditions)).one()
    return Line("", int(count), int(amount))


def roll_forward(session: Session, start: dt.datetime, end: dt.datetime, currency: str) -> RollForward:
    s, e = utc(start), utc(end)

    def moved(column, key: str) -> Line:
        line = _count_sum(session, currency, V.c.activated_at.is_not(None), column >= s, column < e)
        return Line(key, line.count, line.amount)

    opening = _count_sum(session, currency, _active_at(s))
    closing = _count_sum(session, currency, _active_at(e))
    return RollForward(
        start=s, end=e, opening=Line("opening", opening.count, opening.amount),
        activated=moved(V.c.activated_at, "activated"), redeemed=moved(V.c.redeemed_at, "redeemed"),
        expired=moved(V.c.expired_at, "expired"), voided=moved(V.c.voided_at, "voided"),
        closing=Line("closing", closing.count, closing.amount),
        ledger_opening=ledger_balance_as_of(session, chart.VOUCHER_LIABILITY, currency, s),
        ledger_closing=ledger_balance_as_of(session, chart.VOUCHER_LIABILITY, currency, e),
        held_opening=ledger_balance_as_of(session, chart.HELD_FUNDS, currency, s),
        held_closing=ledger_balance_as_of(session, chart.HELD_FUNDS, currency, e))


def liability_report(session: Session, *, as_of: dt.datetime, currency: str, last_valid_day: dt.date,
                     period_start: dt.datetime | None = None) -> LiabilityReport:
    """The liability at ``as_of``; ``last_valid_day`` is the local date at that instant (for
    cards still active after their last valid day, i.e. waiting for the expiry job)."""
    t = utc(as_of)
    report = LiabilityReport(as_of=t, currency=currency)
    whens = [(V.c.activated_at >= t - dt.timedelta(days=days), literal(label)) for days, label in AGING_DAYS]
    bucket = case(*whens, else_=literal(OLDEST_BUCKET)).label("bucket")
    rows = session.execute(
        select(V.c.batch_pk, V.c.distributor_id, V.c.face_value, bucket,
               func.count().label("n"), func.sum(V.c.face_value).label("amount"))
        .where(V.c.currency == currency, _active_at(t))
        .group_by(V.c.batch_pk, V.c.distributor_id, V.c.face_value, bucket)).all()
    batches = dict(session.execute(select(Batch.id, Batch.batch_id)).all()) if rows else {}
    per_batch: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    per_face: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    per_distributor: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    per_bucket: dict[str, list[int]] = {label: [0, 0] for label in BUCKETS}
    for batch_pk, distributor_id, face, label, n, amount in rows:
        n, amount = int(n), int(amount)
        per_batch[batch_pk][0] += n
        per_batch[batch_pk][1] += amount
        per_batch[batch_pk][2] = int(face)
        for target in (per_face[int(face)], per_distributor[distributor_id or "(none)"], per_bucket[label]):
            target[0] += n
            target[1] += amount
        report.active_count += n
        report.total += amount
    report.by_batch = [{"batch_id": batches[pk], "face_value": face, "active_count": n, "liability": amount}
                       for pk, (n, amount, face) in sorted(per_batch.items(), key=lambda kv: batches[kv[0]])]
    report.by_face_value = [Line(str(face), n, a) for face, (n, a) in sorted(per_face.items())]
    report.by_distributor = [Line(d, n, a) for d, (n, a) in sorted(per_distributor.items())]
    report.aging = [Line(label, *per_bucket[label]) for label in BUCKETS]
    past = _count_sum(session, currency, _active_at(t), V.c.expires < last_valid_day)
    report.past_last_valid_day = Line("past_last_valid_day", past.count, past.amount)
    report.ledger_balance = ledger_balance_as_of(session, chart.VOUCHER_LIABILITY, currency, t)
    if period_start is not None:
        report.roll_forward = roll_forward(session, period_start, t, currency)
    return report
