"""Payments and redemptions by channel per day or month: count, amount, share.

The way a utility reports "113,094 of 133,796 payments came through POS":
every booked payment of the period (voucher redemptions are channel
``voucher``; reversed payments are left out), bucketed by local day or month.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.channels import CHANNELS
from ledger.reports.periods import local_bucket
from ledger.timeutil import utc
from storage.ledger_models import Payment


def share(part: int, whole: int) -> str:
    """``part / whole`` as a percentage with two decimals, exact (no floats)."""
    if not whole:
        return "0.00"
    return str((Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class ChannelLine:
    period: str
    channel: str
    count: int
    amount: int
    count_share: str  # percent of the period's payments
    amount_share: str


@dataclass
class ChannelReport:
    start: dt.datetime
    end: dt.datetime
    currency: str
    granularity: str
    lines: list[ChannelLine] = field(default_factory=list)
    totals: list[ChannelLine] = field(default_factory=list)  # whole period, per channel
    count: int = 0
    amount: int = 0


def channel_report(session: Session, *, start: dt.datetime, end: dt.datetime, currency: str, granularity: str,
                   tz: str) -> ChannelReport:
    bucket = local_bucket(session, Payment.paid_at, tz, granularity, start).label("bucket")
    rows = session.execute(
        select(bucket, Payment.channel, func.count(), func.sum(Payment.amount))
        .where(Payment.status == "booked", Payment.currency == currency, Payment.paid_at >= utc(start),
               Payment.paid_at < utc(end))
        .group_by(bucket, Payment.channel).order_by(bucket, Payment.channel)).all()
    report = ChannelReport(utc(start), utc(end), currency, granularity)
    per_period: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    per_channel: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for period, channel, n, amount in rows:
        per_period[period][0] += int(n)
        per_period[period][1] += int(amount)
        per_channel[channel][0] += int(n)
        per_channel[channel][1] += int(amount)
    for period, channel, n, amount in rows:
        whole = per_period[period]
        report.lines.append(ChannelLine(period, channel, int(n), int(amount), share(int(n), whole[0]),
                                        share(int(amount), whole[1])))
    report.count = sum(v[0] for v in per_channel.values())
    report.amount = sum(v[1] for v in per_channel.values())
    order = {c: i for i, c in enumerate(CHANNELS)}
    for channel, (n, amount) in sorted(per_channel.items(), key=lambda kv: order.get(kv[0], 99)):
        report.totals.append(ChannelLine("total", channel, n, amount, share(n, report.count),
                                         share(amount, report.amount)))
    return report
