"""When money lands on an electricity account: the late fee before it is allocated, cost control after.

Every path that credits an account (a redemption, a channel payment, a
payments file) calls this module; ``ledger`` books the money and knows
nothing of metering, so the callers (``redeem_api``, the CLI) put the two
around the booking:

1. **Before the allocation** (same transaction): the late fee (电费违约金)
   owed up to the payment day is posted (:func:`late_fees.on_payment`), so
   the arrears-first rule pays it with the money arriving, after the older
   electricity bills (the penalty bill is due on the payment day). docs/tariffs.md
   §3: the penalty runs "from the first overdue day to the payment day" - it
   is owed at the moment the money arrives, like the arrears it is part of.
   The response then tells the truth: ``applied_to_arrears`` includes it.
2. **After the booking** (same transaction): cost control evaluates the
   account (:func:`cost_control.on_balance_change`), so a disconnected
   prepaid account gets its reconnect order in the same commit as its money.

Both run only for an account with something pending: an overdue postpaid
electricity bill whose late fee is not settled (:func:`late_fee_pending`, an
``EXISTS`` the redemption folds into its account query; one indexed query
otherwise), or, for a prepaid account without a keypad meter, an open
cost-control state (not ``ok``/``on``: :func:`cost_control_pending`, one
primary-key lookup). Money arriving can only raise a balance, so it never
opens a state; an account with nothing pending costs nothing more. The
cost-control state is read *after* the booking, under the balance-row locks
the booking took: a ``cost-control run`` that disconnected the account a
moment before has committed by then (it holds the same locks), so its state is
seen and the reconnection ordered; one that runs after sees the new balance.

A payments file is booked set-based by the books in one transaction; then
:func:`follow_import` finds the file's accounts with something pending (one
set-based query, in that transaction: it reads the file's stage) and settles
them afterwards, in batches of accounts, one transaction per batch (late
fees through each account's last payment day in the file, then cost control
for the batch). Nothing in the follow-up can change what the file booked;
if it is interrupted, the month-end late-fee run and the periodic
``cost-control run`` do the same work later, with the same result.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import and_, bindparam, column, exists, false, func, literal, or_, select, table
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from vouchers.metering import cost_control, late_fees
from vouchers.metering import positions as pos
from vouchers.metering.positions import keypad, prepaid
from vouchers.metering.config import MeteringConfig
from vouchers.storage.ledger_models import BillAllocation, CustomerBill
from vouchers.storage.metering_models import CostControlState, LateFeeState, MeteringBill
from vouchers.tariffs import Catalog

FOLLOW_BATCH = 500


def late_fee_pending(account_no: ColumnElement[str], today: ColumnElement[dt.date],
                     paid_in: Sequence[int] = ()) -> ColumnElement[bool]:
    """EXISTS an electricity bill of a postpaid account, due before ``today``, whose late fee may be owed:
    accrued but not closed, or never accrued and still open (or paid by the journal transactions
    ``paid_in``: a payments file already booked). Index lookups from the (account, period) key."""
    never_accrued = [CustomerBill.outstanding > 0]
    if paid_in:
        never_accrued.append(exists().where(BillAllocation.bill_id == CustomerBill.id,
                                            BillAllocation.transaction_id.in_(list(paid_in))))
    return exists().where(
        MeteringBill.account_no == account_no, MeteringBill.payment_mode == "postpaid",
        CustomerBill.id == MeteringBill.customer_bill_id, CustomerBill.due_date < today,
        or_(exists().where(LateFeeState.bill_id == CustomerBill.id, LateFeeState.closed == false()),
            and_(~exists().where(LateFeeState.bill_id == CustomerBill.id), or_(*never_accrued))))


def _open_state() -> ColumnElement[bool]:
    return or_(CostControlState.notice_state != "ok", CostControlState.supply_state != "on")


_BEFORE = select(late_fee_pending(bindparam("no"), bindparam("today")).label("late_fee"),
                 prepaid(bindparam("no")).label("prepaid"), keypad(bindparam("no")).label("keypad"))
_OPEN = select(CostControlState.account_no).where(CostControlState.account_no == bindparam("no"), _open_state())


@dataclass(frozen=True)
class Gate:
    late_fee: bool  # an overdue bill whose late fee is to be settled before the money is allocated
    prepaid: bool  # a prepaid tariff assignment (the kWh fields' gate too)
    keypad: bool  # an active STS keypad meter

    @property
    def watched(self) -> bool:
        """A prepaid account under remote cost control: read its state after booking."""
        return self.prepaid and not self.keypad


def gate(session: Session, account_no: str, *, pay_date: dt.date) -> Gate:
    """Before booking money for ``account_no`` paid on ``pay_date``: one query, index lookups only."""
    row = session.execute(_BEFORE, {"no": account_no, "today": pay_date}).one()
    return Gate(bool(row.late_fee), bool(row.prepaid), bool(row.keypad))


def before_allocation(session: Session, account_no: str, *, pay_date: dt.date, now: dt.datetime, catalog: Catalog,
                      config: MeteringConfig) -> late_fees.Settlement:
    """The late fee through the payment day, posted before the payment is booked (same transaction)."""
    return late_fees.on_payment(session, account_no, now=now, catalog=catalog, config=config, pay_date=pay_date)


def cost_control_pending(session: Session, account_no: str) -> bool:
    """After booking: whether the account's cost-control state is open (one primary-key lookup)."""
    return session.execute(_OPEN, {"no": account_no}).first() is not None


def after_booking(session: Session, account_no: str, *, now: dt.datetime, catalog: Catalog,
                  config: MeteringConfig) -> cost_control.Evaluation | None:
    """Cost control of a watched account after its money is booked (same transaction): if its state is
    open, it is evaluated now, so a reconnect order goes out with the money. None if nothing was open."""
    if not cost_control_pending(session, account_no):
        return None
    return cost_control.on_balance_change(session, account_no, now=now, catalog=catalog, config=config)


# --- a payments file --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Touched:
    """An account of a payments file with something pending."""

    account_no: str
    pay_date: dt.date  # its last payment day in the file (local)
    late_fee: bool  # an overdue bill to settle (else: an open cost-control state)


@dataclass
class FollowUp:
    """What a payments file triggered after it was booked."""

    accounts: list[Touched] = field(default_factory=list)
    late_fee_fen: int = 0
    late_fee_accounts: int = 0
    reconnects: int = 0
    transactions: int = 0

    def as_dict(self) -> dict[str, object]:
        from vouchers.money import format_amount

        return {"accounts": len(self.accounts), "late_fee_accounts": self.late_fee_accounts,
                "late_fees": format_amount(self.late_fee_fen), "reconnect_orders": self.reconnects}


_STAGE = table("ledger_stage", column("account_no"), column("paid_at"), column("existing_id"))  # ledger.staging


def pending_in_import(session: Session, transaction_ids: Sequence[int], *, today: dt.date,
                      tz: dt.tzinfo) -> list[Touched]:
    """The accounts of the payments file just booked (its stage, :mod:`vouchers.books.staging`, still there in
    this transaction; ``transaction_ids``: the file's journal transactions) with something pending, and
    each one's last payment day (local), in account order: one set-based query, an index probe or two
    per account of the file."""
    if not transaction_ids:
        return []
    lines = (select(_STAGE.c.account_no, func.max(_STAGE.c.paid_at).label("paid_at"))
             .where(_STAGE.c.existing_id.is_(None)).group_by(_STAGE.c.account_no).subquery("lines"))
    open_states = select(CostControlState.account_no).where(_open_state())
    late = late_fee_pending(lines.c.account_no, literal(today), transaction_ids)
    rows = session.execute(
        select(lines.c.account_no, lines.c.paid_at, late.label("late_fee"))
        .where(or_(lines.c.account_no.in_(open_states), late))
        .order_by(lines.c.account_no)).all()
    found = []
    for account_no, paid_at, late_fee in rows:
        when = paid_at if isinstance(paid_at, dt.datetime) else dt.datetime.fromisoformat(str(paid_at))
        when = when if when.tzinfo else when.replace(tzinfo=dt.UTC)  # SQLite keeps naive UTC text
        found.append(Touched(str(account_no), when.astimezone(tz).date(), bool(late_fee)))
    return found


def settle_accounts(factory: sessionmaker[Session], accounts: Sequence[Touched], *, now: dt.datetime,
                    catalog: Catalog, config: MeteringConfig, batch: int = FOLLOW_BATCH) -> FollowUp:
    """Late fees (through each account's payment day) and cost control for these accounts, one
    transaction per ``batch`` accounts; cost control reads and evaluates each batch set-based."""
    result = FollowUp(list(accounts))
    today = config.local_date(now)
    for start in range(0, len(accounts), batch):
        chunk = accounts[start:start + batch]
        with factory() as session, session.begin():
            for touched in chunk:
                if touched.late_fee:
                    settled = late_fees.on_payment(session, touched.account_no, now=now, catalog=catalog,
                                                   config=config, pay_date=min(touched.pay_date, today))
                    if settled.fee_fen:
                        result.late_fee_accounts += 1
                        result.late_fee_fen += settled.fee_fen
            found = [p for p in pos.select_accounts(session, account_nos=[t.account_no for t in chunk],
                                                    payment_mode="prepaid", keypad=True) if not p.keypad]
            if found:
                scope = pos.Scope(found, contiguous=False)
                pos.apply_balances(found, pos.lock(session, found, scope=scope))
                pos.fill_usage(session, found, cutoff=today, scope=scope, tz=config.tz)
                result.reconnects += cost_control.evaluate(session, found, now=now, catalog=catalog,
                                                           config=config).reconnects
        result.transactions += 1
    return result


__all__ = ["FOLLOW_BATCH", "FollowUp", "Gate", "Touched", "after_booking", "before_allocation",
           "cost_control_pending", "gate", "keypad", "late_fee_pending", "pending_in_import", "prepaid",
           "settle_accounts"]
