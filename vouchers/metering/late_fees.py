"""Late-payment penalty (电费违约金) on postpaid electricity bills, posted to the books.

The arithmetic is :func:`vouchers.tariffs.late_fee_between` (daily rate per customer
class, prior-year rate, grace days, the minimum charge, all versioned
configuration in ``tariffs/data/late-fees.toml``). This module decides what
is owed on which day and posts it:

* **Which bills.** Electricity bills of postpaid accounts (the ledger bill of
  a :class:`~vouchers.storage.metering_models.MeteringBill`). Prepaid accounts are
  handled by cost control instead; penalty bills never earn a penalty (the
  base excludes earlier penalties).
* **Principal per day.** The bill's amount minus what was paid on it *before*
  that day: money paid on day *d* still counts on day *d*, because the
  penalty runs "from the first overdue day to the payment day" inclusive
  (``days = pay_date − due_date``). Payments come from the books' allocation
  records, so a payment booked by any channel counts, whether or not this
  module was told about it.
* **When.** :func:`settle_account` accrues every day not yet accrued up to a
  date and posts the difference. It is called at payment time
  (:func:`on_payment`, so the counter can collect the penalty with the
  arrears) and at month end for every account (:func:`run_month_end`); both
  are idempotent, and the result is the same however often they run.
* **The minimum.** The rule says a *total* under 1 yuan is charged as 1 yuan.
  Each bill keeps its exact accrual; what it has been charged in all is
  ``max(minimum, round_half_up(accrued))`` once anything accrued, so
  charging at month end and again at payment never charges the minimum
  twice.
* **Posting.** Dr ``customer_arrears:<acct>``, Cr ``income:late_fee``, and a
  penalty bill in the books (due at once) that the arrears-first rule pays
  with the next money in; a prepaid balance already there pays it at once.
"""
from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from vouchers.books import chart, journal
from vouchers.books.accounts import ensure_account, lock_accounts
from vouchers.books.customers import apply_prepaid, get_customer
from vouchers.metering.config import MeteringConfig
from vouchers.metering.errors import InvalidPeriod
from vouchers.metering.units import round_half_up_fen
from vouchers.storage.ledger_models import (
    BillAllocation,
    CustomerAccount,
    CustomerBill,
    LedgerTransaction,
    Payment,
)
from vouchers.storage.metering_models import (
    LateFeeCharge,
    LateFeeState,
    MeteringAccount,
    MeteringBill,
)
from vouchers.tariffs import Catalog, LateFeeSchedule, late_fee_between

SOURCE = "metering_late_fee"
INCOME = "income:late_fee"
ZERO = Decimal(0)


@dataclass(frozen=True)
class BillFee:
    bill_id: int
    period: str
    from_date: dt.date  # first day accrued now
    to_date: dt.date  # last day accrued now
    accrued: Decimal  # exact accrual of these days
    fee_fen: int  # charged now for this bill


@dataclass(frozen=True)
class Settlement:
    account_no: str
    upto: dt.date
    fee_fen: int
    bills: tuple[BillFee, ...]
    penalty_bill_id: int | None
    transaction_id: int | None

    def as_dict(self) -> dict[str, object]:
        from vouchers.money import format_amount

        return {"account_no": self.account_no, "upto": self.upto.isoformat(), "fee": format_amount(self.fee_fen),
                "penalty_bill_id": self.penalty_bill_id,
                "bills": [{"bill_id": b.bill_id, "period": b.period, "from": b.from_date.isoformat(),
                           "to": b.to_date.isoformat(), "accrued": format(b.accrued, "f"),
                           "fee": format_amount(b.fee_fen)} for b in self.bills]}


def _principal_steps(amount: int, payments: Sequence[tuple[dt.date, int]]) -> list[tuple[dt.date, int]]:
    """(first day, principal from that day on): a payment on day d lowers the principal from d + 1."""
    steps: dict[dt.date, int] = defaultdict(int)
    for day, paid in payments:
        steps[day + dt.timedelta(days=1)] += paid
    result = []
    owed = amount
    for day in sorted(steps):
        owed -= steps[day]
        result.append((day, owed))
    return result


def accrue(schedule: LateFeeSchedule, *, amount: int, due_date: dt.date, payments: Sequence[tuple[dt.date, int]],
           after: dt.date, upto: dt.date, customer_class: str) -> Decimal:
    """Exact penalty (yuan) accrued on days ``after + 1 .. upto`` of a bill of ``amount`` fen due
    ``due_date``, given the payments on it as (local day, fen). Pure."""
    start = max(after, due_date) + dt.timedelta(days=1)
    if start > upto:
        return ZERO
    steps = _principal_steps(amount, payments)
    total = ZERO
    day = start
    while day <= upto:
        principal = amount - sum(paid for d, paid in payments if d < day)
        following = min((d for d, _ in steps if d > day), default=None)
        segment_end = upto if following is None else min(upto, following - dt.timedelta(days=1))
        if principal > 0:
            yuan = Decimal(principal).scaleb(-2)
            through = late_fee_between(schedule, principal=yuan, due_date=due_date, pay_date=segment_end,
                                       customer_class=customer_class)
            before = late_fee_between(schedule, principal=yuan, due_date=due_date,
                                      pay_date=day - dt.timedelta(days=1), customer_class=customer_class)
            total += through.accrued - before.accrued
        day = segment_end + dt.timedelta(days=1)
    return total


def _charged_total(schedule: LateFeeSchedule, accrued: Decimal, upto: dt.date) -> int:
    """What a bill's penalty comes to in all, in fen: the rounded accrual, at least the minimum."""
    if accrued <= 0:
        return 0
    minimum = round_half_up_fen(schedule.version_for(upto).minimum)
    return max(minimum, round_half_up_fen(accrued))


def _payments(session: Session, bill_ids: Sequence[int], tz: dt.tzinfo) -> dict[int, list[tuple[dt.date, int]]]:
    found: dict[int, list[tuple[dt.date, int]]] = defaultdict(list)
    if not bill_ids:
        return found
    # the day the customer paid: a payment's own time (a payments file shares one transaction, dated
    # when it was imported), else the transaction's (a redemption, the prepaid balance, a reversal)
    for bill_id, paid_at, occurred_at, amount in session.execute(
            select(BillAllocation.bill_id, Payment.paid_at, LedgerTransaction.occurred_at, BillAllocation.amount)
            .join(LedgerTransaction, LedgerTransaction.id == BillAllocation.transaction_id)
            .outerjoin(Payment, Payment.id == BillAllocation.payment_id)
            .where(BillAllocation.bill_id.in_(list(bill_ids)))).all():
        occurred_at = paid_at if paid_at is not None and amount > 0 else occurred_at
        when = occurred_at if occurred_at.tzinfo else occurred_at.replace(tzinfo=dt.UTC)
        found[bill_id].append((when.astimezone(tz).date(), int(amount)))
    return found


def settle_account(session: Session, account_no: str, *, upto: dt.date, now: dt.datetime, catalog: Catalog,
                   trigger: str = "manual", config: MeteringConfig | None = None,
                   actor: str = "billing") -> Settlement:
    """Accrue the account's overdue electricity bills through ``upto`` and post what is newly owed."""
    config = config or MeteringConfig()
    schedule = catalog.require_late_fees()
    customer = get_customer(session, account_no)
    income_id = ensure_account(session, INCOME, customer.currency, now)
    # every balance row this settlement may move, in ascending id order (the books' lock order)
    lock_accounts(session, (customer.arrears_account_id, customer.prepaid_account_id, income_id))
    account = session.get(MeteringAccount, account_no)
    if account is None or account.payment_mode != "postpaid":
        return Settlement(account_no, upto, 0, (), None, None)
    rows = session.execute(
        select(CustomerBill.id, CustomerBill.amount, CustomerBill.due_date, MeteringBill.period,
               LateFeeState.through_date, LateFeeState.accrued, LateFeeState.charged_fen)
        .join(MeteringBill, MeteringBill.customer_bill_id == CustomerBill.id)
        .outerjoin(LateFeeState, LateFeeState.bill_id == CustomerBill.id)
        .where(MeteringBill.account_no == account_no, MeteringBill.payment_mode == "postpaid",
               CustomerBill.due_date < upto,
               (LateFeeState.closed.is_(None)) | (LateFeeState.closed.is_(False)))
        .order_by(CustomerBill.due_date, CustomerBill.id)).all()
    payments = _payments(session, [r[0] for r in rows], config.tz)
    fees: list[BillFee] = []
    states: list[tuple[int, bool, dt.date, Decimal, int, bool]] = []  # id, exists, through, accrued, charged, closed
    for bill_id, amount, due_date, period, through, accrued_text, charged in rows:
        after = through or due_date
        paid = payments.get(bill_id, [])
        closed = int(amount) - sum(fen for day, fen in paid if day <= upto) <= 0
        if after >= upto:  # accrued through upto already: only close it once paid (it is then no longer pending)
            if closed and through is not None:
                states.append((bill_id, True, through, Decimal(accrued_text), int(charged or 0), True))
            continue
        new = accrue(schedule, amount=int(amount), due_date=due_date, payments=paid, after=after, upto=upto,
                     customer_class=account.customer_class)
        accrued = (Decimal(accrued_text) if accrued_text is not None else ZERO) + new
        charged = int(charged or 0)
        owe = max(0, _charged_total(schedule, accrued, upto) - charged)
        states.append((bill_id, through is not None, upto, accrued, charged + owe, closed))
        if new or owe:
            fees.append(BillFee(bill_id, period, max(after, due_date) + dt.timedelta(days=1), upto, new, owe))
    for bill_id, exists, through, accrued, charged, closed in states:
        values = {"through_date": through, "accrued": format(accrued, "f"), "charged_fen": charged, "closed": closed}
        if exists:
            session.execute(update(LateFeeState).where(LateFeeState.bill_id == bill_id).values(**values))
        else:
            session.execute(insert(LateFeeState.__table__).values(bill_id=bill_id, account_no=account_no, **values))
    total = sum(f.fee_fen for f in fees)
    if total <= 0:
        return Settlement(account_no, upto, 0, tuple(fees), None, None)
    return _post(session, customer, upto=upto, total=total, fees=fees, now=now, trigger=trigger, actor=actor)


def _post(session: Session, customer: CustomerAccount, *, upto: dt.date, total: int, fees: list[BillFee],
          now: dt.datetime, trigger: str, actor: str) -> Settlement:
    account_no = customer.account_no
    seq = 1 + session.execute(select(func.count()).select_from(LateFeeCharge)
                              .where(LateFeeCharge.account_no == account_no,
                                     LateFeeCharge.charged_on == upto)).scalar_one()
    ref = f"latefee-{upto.isoformat()}-{seq}"
    posted = journal.post(session, journal.Entry(
        kind="late_fee", source=SOURCE, external_ref=f"{account_no}:{ref}",
        legs=(journal.debit(chart.customer_arrears(account_no), total, customer.currency),
              journal.credit(INCOME, total, customer.currency)),
        occurred_at=now, actor=actor, memo=f"电费违约金 late fee through {upto.isoformat()}"), now=now)
    bill = CustomerBill(customer_id=customer.id, bill_ref=ref, amount=total, outstanding=total, due_date=upto,
                        issued_at=now, transaction_id=posted.transaction_id)
    session.add(bill)
    session.flush()
    session.add(LateFeeCharge(
        account_no=account_no, charged_on=upto, fee_fen=total, trigger=trigger, penalty_bill_id=bill.id,
        transaction_id=posted.transaction_id, charged_at=now,
        details=json.dumps([{"bill_id": f.bill_id, "period": f.period, "from": f.from_date.isoformat(),
                             "to": f.to_date.isoformat(), "accrued": format(f.accrued, "f"), "fee_fen": f.fee_fen}
                            for f in fees], separators=(",", ":"))))
    session.flush()
    apply_prepaid(session, customer, now=now, trigger=f"latefee:{posted.transaction_id}")
    return Settlement(account_no, upto, total, tuple(fees), bill.id, posted.transaction_id)


def on_payment(session: Session, account_no: str, *, now: dt.datetime, catalog: Catalog,
               config: MeteringConfig | None = None, pay_date: dt.date | None = None) -> Settlement:
    """The penalty due up to the payment day (``pay_date``, default today) is charged, so it is
    collected with the arrears.

    Called *before* the payment is allocated, in the same transaction (see
    :mod:`vouchers.metering.money_in`: the penalty is owed on the payment day, so the
    arrears-first rule pays it with the money arriving); calling it afterwards
    charges the same amount (the payment day is charged either way)."""
    config = config or MeteringConfig()
    return settle_account(session, account_no, upto=pay_date or config.local_date(now), now=now, catalog=catalog,
                          trigger="payment", config=config)


def month_end_candidates(session: Session, upto: dt.date, *, after: str | None = None,
                         limit: int = 1000) -> list[str]:
    """Postpaid accounts with an electricity bill overdue by ``upto`` and not yet settled, in order."""
    stmt = (select(MeteringBill.account_no).distinct()
            .join(CustomerBill, CustomerBill.id == MeteringBill.customer_bill_id)
            .outerjoin(LateFeeState, LateFeeState.bill_id == CustomerBill.id)
            .where(MeteringBill.payment_mode == "postpaid", CustomerBill.due_date < upto,
                   (LateFeeState.closed.is_(None)) | (LateFeeState.closed.is_(False)))
            .order_by(MeteringBill.account_no).limit(limit))
    if after is not None:
        stmt = stmt.where(MeteringBill.account_no > after)
    return list(session.execute(stmt).scalars())


@dataclass
class MonthEndResult:
    upto: dt.date
    accounts: int = 0
    charged_accounts: int = 0
    total_fen: int = 0

    def as_dict(self) -> dict[str, object]:
        from vouchers.money import format_amount

        return {"upto": self.upto.isoformat(), "accounts": self.accounts, "charged_accounts": self.charged_accounts,
                "total": format_amount(self.total_fen)}


def run_month_end(factory, month: str, *, now: dt.datetime, catalog: Catalog,  # type: ignore[no-untyped-def]
                  config: MeteringConfig | None = None, batch: int = 500) -> MonthEndResult:
    """Settle late fees through the last day of ``month`` (YYYY-MM) for every account; one
    database transaction per ``batch`` accounts. Only a month that has ended (business time zone): days
    not over yet are never charged."""
    from vouchers.metering.billing import parse_period

    config = config or MeteringConfig()
    _, upto = parse_period(month)
    today = config.local_date(now)
    if upto >= today:
        raise InvalidPeriod(f"month {month} has not ended yet (today is {today}): late fees accrue through a "
                            "month's last day, so run it from the 1st of the next month")
    result = MonthEndResult(upto)
    after: str | None = None
    while True:
        with factory() as session, session.begin():
            accounts = month_end_candidates(session, upto, after=after, limit=batch)
            for account_no in accounts:
                settled = settle_account(session, account_no, upto=upto, now=now, catalog=catalog,
                                         trigger="month_end", config=config)
                result.accounts += 1
                if settled.fee_fen:
                    result.charged_accounts += 1
                    result.total_fen += settled.fee_fen
        if len(accounts) < batch:
            return result
        after = accounts[-1]
