"""Payments and redemptions by channel per day or month: count, amount, share, fees.

The way a utility reports "113,094 of 133,796 payments came through POS":
every booked payment of the period (voucher redemptions are channel
``voucher``; reversed payments are left out), bucketed by local day or month.

``fees``: what the channel kept of the money it settled (``expense:channel_fees``
in its settlements, :mod:`vouchers.books.reconcile`), in the day or month of the
settlement: a channel deducts its fee when it pays out, so a month's fees
belong to the settlements of that month, not to the payments' days. A
period can therefore show fees for a channel without payments in it.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vouchers.books import chart
from vouchers.books.channels import CHANNELS
from vouchers.books.reports.periods import local_bucket
from vouchers.books.timeutil import utc
from vouchers.storage.ledger_models import LedgerAccount, LedgerPosting, LedgerTransaction, Payment

SETTLEMENT_SOURCE = "settlement:"  # + channel code: the source of a channel's settlements (ledger.reconcile)


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
    fees: int = 0  # channel fees booked by the channel's settlements in the period


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
    fees: int = 0


def _fees(session: Session, *, start: dt.datetime, end: dt.datetime, currency: str, granularity: str,
          tz: str) -> dict[tuple[str, str], int]:
    """(period, channel) -> channel fees of the settlements booked in that period."""
    bucket = local_bucket(session, LedgerTransaction.occurred_at, tz, granularity, start).label("bucket")
    rows = session.execute(
        select(bucket, LedgerTransaction.source, func.sum(LedgerPosting.amount))
        .join(LedgerPosting, LedgerPosting.transaction_id == LedgerTransaction.id)
        .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
        .where(LedgerAccount.code == chart.CHANNEL_FEES, LedgerPosting.currency == currency,
               LedgerTransaction.kind == "settlement", LedgerTransaction.source.startswith(SETTLEMENT_SOURCE),
               LedgerTransaction.occurred_at >= utc(start), LedgerTransaction.occurred_at < utc(end))
        .group_by(bucket, LedgerTransaction.source)).all()
    return {(period, source[len(SETTLEMENT_SOURCE):]): int(total) for period, source, total in rows if total}


def channel_report(session: Session, *, start: dt.datetime, end: dt.datetime, currency: str, granularity: str,
                   tz: str) -> ChannelReport:
    bucket = local_bucket(session, Payment.paid_at, tz, granularity, start).label("bucket")
    rows = session.execute(
        select(bucket, Payment.channel, func.count(), func.sum(Payment.amount))
        .where(Payment.status == "booked", Payment.currency == currency, Payment.paid_at >= utc(start),
               Payment.paid_at < utc(end))
        .group_by(bucket, Payment.channel).order_by(bucket, Payment.channel)).all()
    fees = _fees(session, start=start, end=end, currency=currency, granularity=granularity, tz=tz)
    report = ChannelReport(utc(start), utc(end), currency, granularity)
    cells: dict[tuple[str, str], list[int]] = {(period, channel): [int(n), int(amount), 0]
                                                for period, channel, n, amount in rows}
    for key, fee in fees.items():
        cells.setdefault(key, [0, 0, 0])[2] = fee
    per_period: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    per_channel: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for (period, channel), (n, amount, fee) in cells.items():
        per_period[period][0] += n
        per_period[period][1] += amount
        total = per_channel[channel]
        total[0], total[1], total[2] = total[0] + n, total[1] + amount, total[2] + fee
    for (period, channel), (n, amount, fee) in sorted(cells.items()):
        whole = per_period[period]
        report.lines.append(ChannelLine(period, channel, n, amount, share(n, whole[0]), share(amount, whole[1]), fee))
    report.count = sum(v[0] for v in per_channel.values())
    report.amount = sum(v[1] for v in per_channel.values())
    report.fees = sum(v[2] for v in per_channel.values())
    order = {c: i for i, c in enumerate(CHANNELS)}
    for channel, (n, amount, fee) in sorted(per_channel.items(), key=lambda kv: (order.get(kv[0], 99), kv[0])):
        report.totals.append(ChannelLine("total", channel, n, amount, share(n, report.count),
                                         share(amount, report.amount), fee))
    return report
