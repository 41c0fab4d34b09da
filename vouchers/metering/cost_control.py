"""Remote cost control (远程费控) of prepaid accounts: warnings, notices, orders.

Every prepaid account is evaluated on its **available balance** (prepaid
balance − arrears − month-to-date estimate, :mod:`vouchers.metering.prepaid`), and
two independent states move:

*notices* (to the customer, through the outbox ``metering_notifications``)

==========  =====================================================  ==================================
state       entered when                                           notification
==========  =====================================================  ==================================
ok          available >= the warning threshold                     (none)
warned      0 < available < threshold (30 or 50 yuan, configured)  ``low_balance_warning``
notice      available <= 0                                         ``zero_balance_notice`` with the
                                                                   disconnection time
==========  =====================================================  ==================================

*supply* (orders to the metering head-end, ``cost_control_orders``)

* ``on`` -> ``disconnect_ordered``: the account has been in *notice* for the
  configured notice period (``notice_days``; the cut is at
  ``disconnect_hour`` local time, e.g. 08:00 the next day, as in Fujian) and
  is still not positive. A ``disconnect`` order is written.
* ``disconnect_ordered`` -> ``off`` when the head-end acknowledges it done
  (``on`` again if it failed: the next evaluation orders again).
* ``disconnect_ordered``/``off`` -> ``reconnect_ordered`` as soon as the
  available balance is positive: a ``reconnect`` order and a
  ``supply_restored`` notification. An order the head-end has not fetched
  is not withdrawn: orders are executed in id order, so the reconnect
  always comes after the disconnect.
* ``reconnect_ordered`` -> ``on`` on acknowledgement (``off`` if it failed:
  the next evaluation orders again).

:func:`run` evaluates every prepaid account (the periodic job);
:func:`on_balance_change` evaluates one, and is called in the same
transaction as anything that moves its balance (a payment, a redemption, a
bill) so a reconnection is ordered at once (:mod:`vouchers.metering.money_in` does it
for every path where money lands, and only when the account has an open
state: money in never opens one).

Accounts with an active STS keypad meter are left out: the meter cuts
itself off when its credit runs out (local cost control, docs/tariffs.md §3), and
their money becomes tokens, so neither their balance nor their readings say
anything about what they owe. :func:`list_orders` and
:func:`acknowledge_order` are what the head-end API calls.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from vouchers.as_of import refuse_future
from vouchers.display import local_text
from vouchers.books.timeutil import from_db
from vouchers.metering import positions as pos
from vouchers.metering.config import MeteringConfig
from vouchers.metering.errors import OrderNotDue, OrderNotFound, OrderStateError
from vouchers.metering.prepaid import standing_of
from vouchers.storage.metering_models import (
    CostControlOrder,
    CostControlState,
    MeteringNotification,
)
from vouchers.tariffs import Catalog
from vouchers.money import format_amount


@dataclass(frozen=True)
class OrderView:
    order_id: int
    account_no: str
    meter_no: str
    kind: str
    status: str
    reason: str
    available_fen: int
    not_before: dt.datetime
    created_at: dt.datetime
    acknowledged_at: dt.datetime | None
    acknowledged_by: str | None
    result_detail: str | None

    def as_dict(self) -> dict[str, object]:
        return {"order_id": self.order_id, "account_no": self.account_no, "meter_no": self.meter_no,
                "kind": self.kind, "status": self.status, "reason": self.reason,
                "available_balance": format_amount(self.available_fen), "not_before": self.not_before.isoformat(),
                "created_at": self.created_at.isoformat(),
                "acknowledged_at": self.acknowledged_at.isoformat() if self.acknowledged_at else None,
                "acknowledged_by": self.acknowledged_by, "result_detail": self.result_detail}


@dataclass
class Evaluation:
    accounts: int = 0
    warnings: int = 0
    notices: int = 0
    disconnects: int = 0
    reconnects: int = 0
    events: list[tuple[str, str]] = field(default_factory=list)  # (account, what happened)

    def add(self, other: Evaluation) -> None:
        self.accounts += other.accounts
        self.warnings += other.warnings
        self.notices += other.notices
        self.disconnects += other.disconnects
        self.reconnects += other.reconnects
        self.events.extend(other.events[: max(0, 1000 - len(self.events))])

    def as_dict(self) -> dict[str, object]:
        return {"accounts": self.accounts, "warnings": self.warnings, "notices": self.notices,
                "disconnect_orders": self.disconnects, "reconnect_orders": self.reconnects,
                "events": [{"account_no": a, "event": e} for a, e in self.events]}


def _notify(session: Session, kind: str, account_no: str, payload: dict[str, object], now: dt.datetime) -> None:
    session.execute(insert(MeteringNotification.__table__).values(
        kind=kind, account_no=account_no, payload=json.dumps(payload, ensure_ascii=False, sort_keys=True),
        created_at=now, attempts=0))


def _order(session: Session, p: pos.Position, kind: str, reason: str, available: int, not_before: dt.datetime,
           now: dt.datetime) -> None:
    session.execute(insert(CostControlOrder.__table__).values(
        account_no=p.account_no, meter_no=p.meter_no, kind=kind, status="pending", reason=reason,
        available_fen=available, not_before=not_before, created_at=now))


def evaluate(session: Session, positions: Sequence[pos.Position], *, now: dt.datetime, catalog: Catalog,
             config: MeteringConfig) -> Evaluation:
    """Move the cost-control states of these (filled, prepaid) positions; write notices and orders."""
    result = Evaluation()
    if not positions:
        return result
    today = config.local_date(now)
    states = {s.account_no: s for s in session.execute(
        select(CostControlState).where(CostControlState.account_no.in_([p.account_no for p in positions]))
    ).scalars()}
    for p in positions:
        if p.payment_mode != "prepaid" or p.keypad:
            continue
        result.accounts += 1
        available = standing_of(p, catalog, today).available_fen
        threshold = config.warning_threshold_fen if p.warning_threshold is None else p.warning_threshold
        state = states.get(p.account_no)
        if state is None:
            state = CostControlState(account_no=p.account_no, notice_state="ok", supply_state="on",
                                     available_fen=available, updated_at=now)
            session.add(state)
        notice, supply = state.notice_state, state.supply_state
        money = {"account_no": p.account_no, "available_balance": format_amount(available)}

        # supply first: money arrived -> reconnect; still nothing after the notice period -> disconnect
        if available > 0 and supply in ("disconnect_ordered", "off"):
            _order(session, p, "reconnect", "available balance is positive again", available, now, now)
            _notify(session, "supply_restored", p.account_no, money, now)
            state.supply_state = "reconnect_ordered"
            state.disconnect_due_at = None
            result.reconnects += 1
            result.events.append((p.account_no, "reconnect_order"))

        if available <= 0:
            if notice != "notice":
                due = config.local_time(today + dt.timedelta(days=config.notice_days), config.disconnect_hour)
                state.notice_state = "notice"
                state.notice_at = now
                state.disconnect_due_at = due
                _notify(session, "zero_balance_notice", p.account_no,
                        {**money, "disconnect_at": due.isoformat()}, now)
                result.notices += 1
                result.events.append((p.account_no, "zero_balance_notice"))
            due_at = from_db(state.disconnect_due_at)
            if (state.supply_state in ("on", "reconnect_ordered") and due_at is not None and now >= due_at):
                _order(session, p, "disconnect", "balance not positive after the notice period", available, due_at,
                       now)
                state.supply_state = "disconnect_ordered"
                result.disconnects += 1
                result.events.append((p.account_no, "disconnect_order"))
        elif available < threshold:
            if notice != "warned":
                state.notice_state = "warned"
                state.warned_at = now
                state.disconnect_due_at = None
                _notify(session, "low_balance_warning", p.account_no,
                        {**money, "threshold": format_amount(threshold)}, now)
                result.warnings += 1
                result.events.append((p.account_no, "low_balance_warning"))
        else:
            state.notice_state = "ok"
            state.disconnect_due_at = None
        state.available_fen = available
        state.updated_at = now
    session.flush()
    return result


def on_balance_change(session: Session, account_no: str, *, now: dt.datetime, catalog: Catalog,
                      config: MeteringConfig | None = None) -> Evaluation:
    """Evaluate one account now (after a payment, redemption or bill, same transaction)."""
    config = config or MeteringConfig()
    found = [p for p in pos.select_accounts(session, account_nos=[account_no], payment_mode="prepaid", keypad=True)
             if not p.keypad]
    pos.lock(session, found)
    pos.fill(session, found, cutoff=config.local_date(now), tz=config.tz)
    return evaluate(session, found, now=now, catalog=catalog, config=config)


def run(factory: sessionmaker[Session], *, now: dt.datetime, catalog: Catalog, config: MeteringConfig | None = None,
        batch: int | None = None, as_of: dt.datetime | None = None) -> Evaluation:
    """Evaluate every prepaid account, one database transaction per batch.

    ``as_of``: evaluate at this earlier instant instead of ``now`` (a missed run caught up). A later one is
    :class:`vouchers.as_of.FutureAsOf`: it would write orders dated ahead, to cut supply before its time.
    """
    if as_of is not None:
        now = refuse_future(as_of, now, what="--as-of", consequence="orders would be dated ahead and supply cut "
                                                                   "before its time")
    config = config or MeteringConfig()
    size = batch or config.batch_size
    total = Evaluation()
    after: str | None = None
    while True:
        with factory() as session, session.begin():
            found = pos.select_accounts(session, after=after, limit=size, payment_mode="prepaid", keypad=True)
            if not found:
                return total
            watched = [p for p in found if not p.keypad]
            scope = pos.Scope(watched, contiguous=False)
            pos.apply_balances(watched, pos.lock(session, watched, scope=scope))
            pos.fill_usage(session, watched, cutoff=config.local_date(now), scope=scope, tz=config.tz)
            total.add(evaluate(session, watched, now=now, catalog=catalog, config=config))
        after = found[-1].account_no


# --- the head-end's side ---------------------------------------------------------------


def _view(o: CostControlOrder) -> OrderView:
    return OrderView(o.id, o.account_no, o.meter_no, o.kind, o.status, o.reason, o.available_fen,
                     from_db(o.not_before) or o.not_before, from_db(o.created_at) or o.created_at,
                     from_db(o.acknowledged_at), o.acknowledged_by, o.result_detail)


def list_orders(session: Session, *, status: str | None = "pending", after_id: int = 0, limit: int = 100,
                account_no: str | None = None) -> list[OrderView]:
    """Orders in id order (the order to execute them in); ``status=None`` lists all."""
    stmt = select(CostControlOrder).where(CostControlOrder.id > after_id).order_by(CostControlOrder.id)
    if status is not None:
        stmt = stmt.where(CostControlOrder.status == status)
    if account_no is not None:
        stmt = stmt.where(CostControlOrder.account_no == account_no)
    return [_view(o) for o in session.execute(stmt.limit(max(1, min(limit, 1000)))).scalars()]


def acknowledge_order(session: Session, order_id: int, *, result: str, now: dt.datetime, actor: str,
                      detail: str | None = None, tz: dt.tzinfo | None = None) -> OrderView:
    """The head-end reports an order ``done`` or ``failed``. Idempotent: the same
    result again returns the order unchanged; a different one is refused, and so is any result
    before the order's ``not_before`` (:class:`OrderNotDue`: it was carried out too early; ``tz``, the
    business time zone, is how its message shows the times)."""
    if result not in ("done", "failed"):
        raise OrderStateError(f"result must be 'done' or 'failed', got {result!r}")
    order = session.get(CostControlOrder, order_id) if isinstance(order_id, int) else None
    if order is None:
        raise OrderNotFound(f"no cost-control order {order_id!r}")
    if order.status == result:
        return _view(order)
    if order.status != "pending":
        raise OrderStateError(f"order {order_id} is already {order.status}")
    not_before = from_db(order.not_before) or order.not_before
    if now < not_before:  # executed early: a disconnect cuts supply the customer still had time to avoid
        zone = tz or now.tzinfo
        raise OrderNotDue(f"order {order_id} ({order.kind}) may not be carried out before "
                          f"{local_text(not_before, zone)}; a result reported at {local_text(now, zone)} is refused: "
                          "acknowledge it once it has been carried out, after that time")
    claimed = session.execute(update(CostControlOrder)
                              .where(CostControlOrder.id == order_id, CostControlOrder.status == "pending")
                              .values(status=result, acknowledged_at=now, acknowledged_by=actor,
                                      result_detail=(detail or "")[:2000] or None)).rowcount
    if claimed != 1:  # pragma: no cover - acknowledged concurrently
        raise OrderStateError(f"order {order_id} was acknowledged concurrently")
    state = session.get(CostControlState, order.account_no)
    if state is not None:
        if order.kind == "disconnect" and state.supply_state == "disconnect_ordered":
            state.supply_state = "off" if result == "done" else "on"
        elif order.kind == "reconnect" and state.supply_state == "reconnect_ordered":
            state.supply_state = "on" if result == "done" else "off"
        state.updated_at = now
    session.flush()
    session.refresh(order)
    return _view(order)


def notifications(session: Session, *, account_no: str | None = None, unsent_only: bool = False,
                  limit: int = 100) -> list[dict[str, object]]:
    stmt = select(MeteringNotification).order_by(MeteringNotification.id)
    if account_no is not None:
        stmt = stmt.where(MeteringNotification.account_no == account_no)
    if unsent_only:
        stmt = stmt.where(MeteringNotification.sent_at.is_(None))
    return [{"id": n.id, "kind": n.kind, "account_no": n.account_no, "payload": json.loads(n.payload),
             "created_at": (from_db(n.created_at) or n.created_at).isoformat()}
            for n in session.execute(stmt.limit(limit)).scalars()]
