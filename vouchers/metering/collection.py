"""Collection analysis (电费回收率) and early warning (电费回收预警), docs/tariffs.md §4.

Rates for month M of year Y (cut-off: the end of M's last day, local time, or
``now`` when M has not ended yet: a month still running is reported to today and
the report states that cut-off), computed over electricity bills (penalties are reported, never counted in a
rate):

=====================  ===================================================  =========================
rate                   formula                                              name
=====================  ===================================================  =========================
cumulative (累计)       (collected this year + old arrears collected)        collected_to_date /
                       / (billed this year + arrears carried in)            billable_to_date
this year (本年度)       collected on this year's bills / billed this year    (collected − old) /
                                                                            (billable − carried in)
earlier years (以前年度)  old arrears collected / arrears carried in           old / carried in
this month             collected on M's bills / billed for M                (ours)
=====================  ===================================================  =========================

* "this year's bills" are the bills of periods January..M of Y (a metered
  bill's period; for any other ledger bill, such as opening arrears, the
  month of its due date);
* "arrears carried in" is what was still unpaid on bills of earlier years at
  the start of Y; "old arrears collected" is what was paid on them from the
  start of Y to the cut-off;
* "collected" on a bill is the part its prepaid balance paid when it was
  issued plus every payment allocated to it (by the books' arrears-first
  rule) up to the cut-off, by the payment's own time.

Rates are percentages to one decimal, rounded half-up; a rate with nothing
to collect is reported as null.

Arrears aging at the cut-off, for every bill with something unpaid:
categories this month (本月欠费) / earlier months this year (本年往月) /
prior years (陈欠) / penalties (违约金), and days past the due date
0–30 (including not yet due) / 31–90 / 91–365 / >365, counted from the due
date to the cut-off day (a bill not yet due is 0 days past due, never more
than the days since its due date). Everything is given
in total, by area (the tariff assignment's) and by channel: an account's
channel is the one its latest payment before the cut-off came through
(``none`` if it never paid), so the tables answer "how do the customers who
pay through X pay?". Money received per channel in M is listed too.

Warning levels per customer (our design, thresholds in
:class:`~vouchers.metering.config.MeteringConfig`):

* **red**: arrears more than 30 days past due, any old arrears (bills of an
  earlier year unpaid), or a large customer owing at least the set amount;
* **yellow**: arrears 1–30 days past due, or at least 2 bills paid late in
  the last 12 months;
* **blue**: a prepaid account whose available balance is below its warning
  value, or which will reach zero within 3 days at its average daily bill
  (not an account with an active keypad meter: its credit is on the meter).

The highest level wins; every reason is listed.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import and_, case, func, literal, or_, select
from sqlalchemy.orm import Session

from vouchers.books.csvformat import text_cell
from vouchers.books.reports.collection import CollectionLine
from vouchers.books.timeutil import end_of_day, from_db, start_of_day
from vouchers.metering import positions as pos
from vouchers.metering.billing import parse_period
from vouchers.metering.config import MeteringConfig
from vouchers.metering.errors import ReportError
from vouchers.metering.prepaid import standing_of
from vouchers.metering.units import percent_1dp
from vouchers.storage.ledger_models import (
    BillAllocation,
    CustomerAccount,
    CustomerBill,
    LedgerTransaction,
    Payment,
)
from vouchers.storage.metering_models import LateFeeCharge, MeteringAccount, MeteringBill
from vouchers.tariffs import Catalog
from vouchers.money import format_amount

CATEGORIES = ("this_month", "earlier_months", "prior_years", "penalties")
DAY_BUCKETS = ("0-30", "31-90", "91-365", ">365")
NO_AREA = "(none)"
NO_CHANNEL = "none"


@dataclass
class Rates:
    carried_in: int = 0
    old_collected: int = 0
    year_billable: int = 0
    year_collected: int = 0
    month_billable: int = 0
    month_collected: int = 0

    @property
    def billable_to_date(self) -> int:
        return self.year_billable + self.carried_in

    @property
    def collected_to_date(self) -> int:
        return self.year_collected + self.old_collected

    @property
    def cumulative(self) -> Decimal | None:
        return percent_1dp(self.collected_to_date, self.billable_to_date)

    @property
    def this_year(self) -> Decimal | None:
        return percent_1dp(self.year_collected, self.year_billable)

    @property
    def earlier_years(self) -> Decimal | None:
        return percent_1dp(self.old_collected, self.carried_in)

    @property
    def month(self) -> Decimal | None:
        return percent_1dp(self.month_collected, self.month_billable)

    def as_dict(self) -> dict[str, object]:
        def pct(value: Decimal | None) -> str | None:
            return None if value is None else format(value, "f")

        return {
            "cumulative_rate": pct(self.cumulative), "this_year_rate": pct(self.this_year),
            "earlier_years_rate": pct(self.earlier_years), "month_rate": pct(self.month),
            "billable_to_date": format_amount(self.billable_to_date),
            "collected_to_date": format_amount(self.collected_to_date),
            "year_billable": format_amount(self.year_billable), "year_collected": format_amount(self.year_collected),
            "carried_in": format_amount(self.carried_in), "old_collected": format_amount(self.old_collected),
            "month_billable": format_amount(self.month_billable),
            "month_collected": format_amount(self.month_collected),
        }


@dataclass
class Aging:
    by_category: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0))
    by_days: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DAY_BUCKETS, 0))

    @property
    def total(self) -> int:
        return sum(self.by_category.values())

    def add(self, category: str, bucket: str, amount: int) -> None:
        self.by_category[category] += amount
        self.by_days[bucket] += amount

    def as_dict(self) -> dict[str, object]:
        return {"total": format_amount(self.total),
                "categories": {k: format_amount(v) for k, v in self.by_category.items()},
                "days_past_due": {k: format_amount(v) for k, v in self.by_days.items()}}


@dataclass
class Group:
    rates: Rates = field(default_factory=Rates)
    aging: Aging = field(default_factory=Aging)
    accounts_in_arrears: set[str] = field(default_factory=set)

    def as_dict(self) -> dict[str, object]:
        return {**self.rates.as_dict(), "arrears": self.aging.as_dict(),
                "accounts_in_arrears": len(self.accounts_in_arrears)}


@dataclass
class CollectionReport:
    month: str
    cutoff: dt.date
    currency: str
    total: Group
    by_area: dict[str, Group]
    by_channel: dict[str, Group]
    receipts: dict[str, tuple[int, int]]  # channel -> (count, amount) received in the month
    top_arrears: list[dict[str, object]]
    month_complete: bool = True  # False: the month had not ended at ``now``, the cut-off is that day

    def as_dict(self) -> dict[str, object]:
        return {
            "month": self.month, "cutoff": self.cutoff.isoformat(), "month_complete": self.month_complete,
            "currency": self.currency,
            "total": self.total.as_dict(),
            "by_area": {k: v.as_dict() for k, v in sorted(self.by_area.items())},
            "by_channel": {k: v.as_dict() for k, v in sorted(self.by_channel.items())},
            "receipts": {k: {"count": n, "amount": format_amount(a)} for k, (n, a) in sorted(self.receipts.items())},
            "top_arrears": self.top_arrears,
        }


def _day_bucket(days: int) -> str:
    if days <= 30:
        return "0-30"
    if days <= 90:
        return "31-90"
    if days <= 365:
        return "91-365"
    return ">365"


def _month_key(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _channels(session: Session, cut: dt.datetime) -> dict[int, str]:
    """customer id -> channel of the latest payment before ``cut``."""
    ranked = (select(Payment.customer_id, Payment.channel,
                     func.row_number().over(partition_by=Payment.customer_id,
                                            order_by=(Payment.paid_at.desc(), Payment.id.desc())).label("rn"))
              .where(Payment.paid_at < cut, Payment.status == "booked").subquery())
    return {int(c): ch for c, ch in session.execute(select(ranked.c.customer_id, ranked.c.channel)
                                                    .where(ranked.c.rn == 1)).all()}


def _allocations(year_start: dt.datetime, cut: dt.datetime):  # type: ignore[no-untyped-def]
    t = LedgerTransaction
    return (select(BillAllocation.bill_id.label("bill_id"),
                   func.sum(case((t.occurred_at < year_start, BillAllocation.amount), else_=literal(0)))
                   .label("before_year"),
                   func.sum(case((t.occurred_at < cut, BillAllocation.amount), else_=literal(0))).label("before_cut"))
            .join(t, t.id == BillAllocation.transaction_id)
            .where(t.occurred_at < cut)
            .group_by(BillAllocation.bill_id).subquery())


@dataclass(frozen=True, slots=True)
class _Bill:
    account_no: str
    customer_id: int
    belongs: str  # YYYY-MM
    billable: int  # electricity billed (0 for penalties)
    covered: int  # paid from the prepaid balance when issued (before the cut-off)
    owed: int  # ledger bill amount
    paid_before_year: int
    paid_before_cut: int
    due_date: dt.date
    penalty: bool


def _bills(session: Session, *, year_first: str, month: str, year_start: dt.datetime, cut: dt.datetime,
           last: dt.date) -> Iterator[_Bill]:
    alloc = _allocations(year_start, cut)
    paid_before_year = func.coalesce(alloc.c.before_year, 0)
    paid_before_cut = func.coalesce(alloc.c.before_cut, 0)
    owed = func.coalesce(CustomerBill.amount, 0)
    metered = (
        select(MeteringBill.account_no, CustomerAccount.id, MeteringBill.period, MeteringBill.total_fen,
               MeteringBill.from_prepaid_fen, owed, paid_before_year, paid_before_cut, MeteringBill.due_date)
        .join(CustomerAccount, CustomerAccount.account_no == MeteringBill.account_no)
        .outerjoin(CustomerBill, CustomerBill.id == MeteringBill.customer_bill_id)
        .outerjoin(alloc, alloc.c.bill_id == MeteringBill.customer_bill_id)
        .where(MeteringBill.issued_at < cut, MeteringBill.period <= month,
               or_(MeteringBill.period >= year_first, owed - paid_before_year > 0)))
    for account_no, customer_id, period, total, covered, amount, before_year, before_cut, due in (
            session.execute(metered.execution_options(yield_per=5000))):
        yield _Bill(account_no, int(customer_id), period, int(total), int(covered), int(amount), int(before_year),
                    int(before_cut), due, False)
    penalty_ids = select(LateFeeCharge.penalty_bill_id)
    metered_ids = select(MeteringBill.customer_bill_id).where(MeteringBill.customer_bill_id.is_not(None))
    year_start_day = dt.date(int(year_first[:4]), 1, 1)
    other = (
        select(CustomerAccount.account_no, CustomerBill.customer_id, CustomerBill.amount, paid_before_year,
               paid_before_cut, CustomerBill.due_date, CustomerBill.id.in_(penalty_ids))
        .join(CustomerAccount, CustomerAccount.id == CustomerBill.customer_id)
        .outerjoin(alloc, alloc.c.bill_id == CustomerBill.id)
        # a month-end late fee is posted after the month closes but belongs to it (due on its last day)
        .where(or_(CustomerBill.issued_at < cut, and_(CustomerBill.id.in_(penalty_ids), CustomerBill.due_date <= last)),
               CustomerBill.id.not_in(metered_ids),
               or_(CustomerBill.due_date >= year_start_day, CustomerBill.amount - paid_before_year > 0)))
    for account_no, customer_id, amount, before_year, before_cut, due, is_penalty in (
            session.execute(other.execution_options(yield_per=5000))):
        belongs = _month_key(due)
        yield _Bill(account_no, int(customer_id), belongs, 0 if is_penalty else int(amount), 0, int(amount),
                    int(before_year), int(before_cut), due, bool(is_penalty))


def collection_report(session: Session, month: str, *, now: dt.datetime, config: MeteringConfig | None = None,
                      top: int = 20) -> CollectionReport:
    """The monthly collection analysis for ``month`` (YYYY-MM) as it stands at ``now``.

    A month that has not ended at ``now`` is cut off at ``now`` (its cut-off day is today);
    a month that has not begun is refused.
    """
    config = config or MeteringConfig()
    first, last = parse_period(month)
    tz = config.tz
    year_first = f"{first.year:04d}-01"
    year_start = start_of_day(dt.date(first.year, 1, 1), tz)
    month_start = start_of_day(first, tz)
    if now < month_start:
        raise ReportError(f"month {month} has not begun on {config.local_date(now)} (business time)")
    cut = end_of_day(last, tz)
    complete = now >= cut
    if not complete:
        cut = now + dt.timedelta(microseconds=1)  # what happened at ``now`` itself is known at ``now``
        last = config.local_date(now)
    areas = dict(session.execute(select(MeteringAccount.account_no, MeteringAccount.area)).all())
    channels = _channels(session, cut)
    total, by_area, by_channel = Group(), defaultdict(Group), defaultdict(Group)
    owing: dict[str, int] = defaultdict(int)
    oldest: dict[str, dt.date] = {}
    for b in _bills(session, year_first=year_first, month=month, year_start=year_start, cut=cut, last=last):
        area = areas.get(b.account_no, NO_AREA)
        channel = channels.get(b.customer_id, NO_CHANNEL)
        groups = (total, by_area[area], by_channel[channel])
        if not b.penalty and b.belongs <= month:
            collected_at_cut = b.covered + b.paid_before_cut
            if b.belongs >= year_first:
                for g in groups:
                    g.rates.year_billable += b.billable
                    g.rates.year_collected += collected_at_cut
                    if b.belongs == month:
                        g.rates.month_billable += b.billable
                        g.rates.month_collected += collected_at_cut
            else:
                carried = b.owed - b.paid_before_year
                if carried > 0:
                    for g in groups:
                        g.rates.carried_in += carried
                        g.rates.old_collected += b.paid_before_cut - b.paid_before_year
        unpaid = b.owed - b.paid_before_cut
        if unpaid > 0:
            if b.penalty:
                category = "penalties"
            elif b.belongs >= month:
                category = "this_month"
            elif b.belongs >= year_first:
                category = "earlier_months"
            else:
                category = "prior_years"
            bucket = _day_bucket(max(0, (last - b.due_date).days))
            for g in groups:
                g.aging.add(category, bucket, unpaid)
                g.accounts_in_arrears.add(b.account_no)
            owing[b.account_no] += unpaid
            oldest[b.account_no] = min(oldest.get(b.account_no, b.due_date), b.due_date)
    receipts = {ch: (int(n), int(a)) for ch, n, a in session.execute(
        select(Payment.channel, func.count(), func.sum(Payment.amount))
        .where(Payment.paid_at >= month_start, Payment.paid_at < cut, Payment.status == "booked")
        .group_by(Payment.channel)).all()}
    ranked = sorted(owing.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    top_rows = [{"account_no": a, "area": areas.get(a, NO_AREA), "arrears": format_amount(v),
                 "oldest_due": oldest[a].isoformat(), "days_past_due": max(0, (last - oldest[a]).days)}
                for a, v in ranked]
    currency = session.execute(select(CustomerAccount.currency).limit(1)).scalar() or "CNY"
    return CollectionReport(month, last, currency, total, dict(by_area), dict(by_channel), receipts, top_rows,
                            month_complete=complete)


def report_csv(report: CollectionReport, months: Sequence[CollectionLine] = ()) -> str:
    """The report as one CSV table: section, group, measure, value (the one CSV of the collection report).

    The first rows state the month and its cut-off; ``months`` (the books' rate per month of the period)
    follow as section ``month``. A group name a spreadsheet would run as a formula (an area is free text)
    gets a leading ``'``.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["section", "group", "measure", "value"])
    writer.writerow(["report", report.month, "cutoff", report.cutoff.isoformat()])
    writer.writerow(["report", report.month, "month_complete", "yes" if report.month_complete else "no"])
    writer.writerow(["report", report.month, "currency", report.currency])
    for line in months:
        writer.writerow(["month", line.month, "billed", format_amount(line.billed)])
        writer.writerow(["month", line.month, "collected", format_amount(line.collected)])
        writer.writerow(["month", line.month, "rate_percent", line.rate])

    def group_rows(section: str, name: str, group: Group) -> None:
        name = text_cell(name)
        for measure, value in group.rates.as_dict().items():
            writer.writerow([section, name, measure, "" if value is None else value])
        for category, amount in group.aging.by_category.items():
            writer.writerow([section, name, f"arrears_{category}", format_amount(amount)])
        for bucket, amount in group.aging.by_days.items():
            writer.writerow([section, name, f"arrears_days_{bucket}", format_amount(amount)])
        writer.writerow([section, name, "arrears_total", format_amount(group.aging.total)])
        writer.writerow([section, name, "accounts_in_arrears", len(group.accounts_in_arrears)])

    group_rows("total", "all", report.total)
    for name, group in sorted(report.by_area.items()):
        group_rows("area", name, group)
    for name, group in sorted(report.by_channel.items()):
        group_rows("channel", name, group)
    for channel, (count, amount) in sorted(report.receipts.items()):
        writer.writerow(["receipts", channel, "count", count])
        writer.writerow(["receipts", channel, "amount", format_amount(amount)])
    for row in report.top_arrears:
        writer.writerow(["top_arrears", row["account_no"], "arrears", row["arrears"]])
    return out.getvalue()


# --- early warning -------------------------------------------------------------------


@dataclass(frozen=True)
class Warning:
    account_no: str
    area: str
    payment_mode: str
    level: str  # red | yellow | blue
    reasons: tuple[str, ...]
    arrears_fen: int
    available_fen: int | None

    def as_dict(self) -> dict[str, object]:
        return {"account_no": self.account_no, "area": self.area, "payment_mode": self.payment_mode,
                "level": self.level, "reasons": list(self.reasons), "arrears": format_amount(self.arrears_fen),
                "available_balance": None if self.available_fen is None else format_amount(self.available_fen)}


LEVELS = ("red", "yellow", "blue")


def warnings(session: Session, *, now: dt.datetime, catalog: Catalog,
             config: MeteringConfig | None = None) -> list[Warning]:
    """Every metered customer with a warning level today, red first."""
    config = config or MeteringConfig()
    today = config.local_date(now)
    reasons: dict[str, list[tuple[str, str]]] = defaultdict(list)  # account -> [(level, reason)]
    owed: dict[str, int] = defaultdict(int)

    metered_period = (select(MeteringBill.customer_bill_id, MeteringBill.period)
                      .where(MeteringBill.customer_bill_id.is_not(None)).subquery())
    penalty_ids = select(LateFeeCharge.penalty_bill_id)
    worst_days: dict[str, int] = {}
    old: set[str] = set()
    for account_no, outstanding, due, period, is_penalty in session.execute(
            select(CustomerAccount.account_no, CustomerBill.outstanding, CustomerBill.due_date,
                   metered_period.c.period, CustomerBill.id.in_(penalty_ids))
            .join(CustomerAccount, CustomerAccount.id == CustomerBill.customer_id)
            .outerjoin(metered_period, metered_period.c.customer_bill_id == CustomerBill.id)
            .where(CustomerBill.outstanding > 0).execution_options(yield_per=5000)):
        owed[account_no] += int(outstanding)
        days = (today - due).days
        worst_days[account_no] = max(worst_days.get(account_no, days), days)
        belongs_year = int(period[:4]) if period else due.year
        if belongs_year < today.year and not is_penalty:
            old.add(account_no)
    for account_no, days in worst_days.items():
        if days > config.red_days_past_due:
            reasons[account_no].append(("red", f"arrears {days} days past due"))
        elif days >= 1:
            reasons[account_no].append(("yellow", f"arrears {days} days past due"))
    for account_no in old:
        reasons[account_no].append(("red", "old arrears from an earlier year"))

    accounts = {a: (area, mode, bool(large)) for a, area, mode, large in session.execute(
        select(MeteringAccount.account_no, MeteringAccount.area, MeteringAccount.payment_mode,
               MeteringAccount.large_customer)).all()}
    for account_no, (_, _, large) in accounts.items():
        if large and owed.get(account_no, 0) >= config.red_large_customer_fen and owed.get(account_no, 0) > 0:
            reasons[account_no].append(("red", f"large customer owing {format_amount(owed[account_no])}"))

    # bills paid late in the last 12 months (a payment dated after the due date)
    since = today - dt.timedelta(days=365)
    late: dict[str, set[int]] = defaultdict(set)
    tz = config.tz
    for account_no, bill_id, due, occurred_at in session.execute(
            select(CustomerAccount.account_no, CustomerBill.id, CustomerBill.due_date, LedgerTransaction.occurred_at)
            .join(CustomerBill, CustomerBill.customer_id == CustomerAccount.id)
            .join(BillAllocation, BillAllocation.bill_id == CustomerBill.id)
            .join(LedgerTransaction, LedgerTransaction.id == BillAllocation.transaction_id)
            .where(BillAllocation.amount > 0, LedgerTransaction.occurred_at >= start_of_day(since, tz),
                   CustomerBill.id.not_in(penalty_ids))
            .execution_options(yield_per=5000)):
        when = from_db(occurred_at)
        if when is not None and when.astimezone(tz).date() > due:
            late[account_no].add(int(bill_id))
    for account_no, bills in late.items():
        if len(bills) >= config.yellow_late_payments:
            reasons[account_no].append(("yellow", f"{len(bills)} bills paid late in 12 months"))

    available: dict[str, int] = {}
    after: str | None = None
    while True:
        found = pos.select_accounts(session, after=after, limit=config.batch_size, payment_mode="prepaid",
                                    keypad=True)  # no month-to-date estimate for keypad meters
        if not found:
            break
        scope = pos.Scope(found, contiguous=False)
        pos.fill(session, found, cutoff=today, scope=scope, tz=config.tz)
        daily = _average_daily_bill(session, scope)
        for p in found:
            state = standing_of(p, catalog, today)
            available[p.account_no] = state.available_fen
            if p.keypad:
                # the credit is on the meter (vended as tokens), not in the balance: the balance says
                # nothing about when the meter runs dry, and the meter warns its customer itself
                continue
            threshold = config.warning_threshold_fen if p.warning_threshold is None else p.warning_threshold
            if state.available_fen < threshold:
                reasons[p.account_no].append(
                    ("blue", f"available balance {format_amount(state.available_fen)} "
                             f"below {format_amount(threshold)}"))
            elif p.account_no in daily and daily[p.account_no] > 0:
                days_left = Decimal(state.available_fen) / daily[p.account_no]
                if days_left < config.blue_days_to_zero:
                    reasons[p.account_no].append(
                        ("blue", f"{days_left.quantize(Decimal('0.1'))} days to zero at the average daily bill"))
        after = found[-1].account_no

    result = []
    for account_no, found_reasons in reasons.items():
        area, mode, _ = accounts.get(account_no, (NO_AREA, "unknown", False))
        level = min((lv for lv, _ in found_reasons), key=LEVELS.index)
        ordered = tuple(r for lv in LEVELS for lvl, r in found_reasons if lvl == lv)
        result.append(Warning(account_no, area, mode, level, ordered, owed.get(account_no, 0),
                              available.get(account_no)))
    result.sort(key=lambda w: (LEVELS.index(w.level), -w.arrears_fen, w.account_no))
    return result


def _average_daily_bill(session: Session, scope: pos.Scope) -> dict[str, Decimal]:
    """fen per day over each account's last three bills (closing - opening dates)."""
    rows = session.execute(
        select(MeteringBill.account_no, MeteringBill.total_fen, MeteringBill.opening_date, MeteringBill.closing_date)
        .where(scope.where(MeteringBill.account_no), MeteringBill.opening_date.is_not(None))
        .order_by(MeteringBill.account_no, MeteringBill.period.desc())).all()
    taken: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for account_no, total, opening, closing in rows:
        if len(taken[account_no]) < 3:
            taken[account_no].append((int(total), max(0, (closing - opening).days)))
    result = {}
    for account_no, bills in taken.items():
        days = sum(d for _, d in bills)
        if days > 0:
            result[account_no] = Decimal(sum(t for t, _ in bills)) / days
    return result


__all__ = ["CATEGORIES", "DAY_BUCKETS", "CollectionReport", "Rates", "Warning", "collection_report", "report_csv",
           "warnings"]
