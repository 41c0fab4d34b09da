"""Cost control (费控) over a simulated month, with the clock injected."""
from __future__ import annotations

import datetime as dt

import pytest

from vouchers.metering import cost_control as cc
from vouchers.as_of import FutureAsOf
from vouchers.metering.errors import OrderNotDue, OrderNotFound, OrderStateError
from vouchers.storage.metering_models import CostControlState
from tests.integration.metering.conftest import World, at


def _run(world: World, when: dt.datetime) -> cc.Evaluation:
    return cc.run(world.sessions, now=when, catalog=world.catalog, config=world.config)


def _orders(world: World, status: str | None = "pending") -> list[cc.OrderView]:
    with world.sessions.begin() as s:
        return cc.list_orders(s, status=status)


def _ack(world: World, order_id: int, result: str, when: dt.datetime) -> cc.OrderView:
    with world.sessions.begin() as s:
        return cc.acknowledge_order(s, order_id, result=result, now=when, actor="head-end")


def _state(world: World, account: str) -> tuple[str, str, int]:
    with world.sessions.begin() as s:
        st = s.get(CostControlState, account)
        return st.notice_state, st.supply_state, st.available_fen


def _daily_reading(world: World, account: str, day: dt.date, kwh_per_day: int = 5) -> None:
    i = (day - dt.date(2026, 3, 1)).days
    world.read(account, day.isoformat(), str(kwh_per_day * i), now=at(day.isoformat(), 1))


def test_a_month_of_cost_control(world: World) -> None:
    world.customer("F1", mode="prepaid", opening=("2026-03-01", "0"))
    world.pay("F1", "60.00", "2026-03-01")
    log: list[tuple[dt.date, str]] = []
    for i in range(1, 31):
        day = dt.date(2026, 3, 1) + dt.timedelta(days=i)
        _daily_reading(world, "F1", day)
        if day == dt.date(2026, 3, 27):
            early = _run(world, at("2026-03-27", 7))  # before the 08:00 cut: nothing yet
            assert early.disconnects == 0
        evaluation = _run(world, at(day.isoformat(), 9))
        log += [(day, event) for _, event in evaluation.events]
        if day == dt.date(2026, 3, 27):
            [order] = _orders(world)
            assert (order.kind, order.meter_no, order.not_before) == ("disconnect", "MF1",
                                                                      at("2026-03-27", 8).astimezone(dt.UTC))
            assert order.available_fen == -478  # 26 x 5 = 130 kWh x 0.4983 = 64.78 against 60.00
            _ack(world, order.order_id, "done", at("2026-03-27", 10))
            assert _state(world, "F1")[1] == "off"
    # 65 kWh (32.39) leaves 27.61 < 30: warning; 125 kWh (62.29) goes below zero: notice; cut next day 08:00
    assert log == [(dt.date(2026, 3, 14), "low_balance_warning"), (dt.date(2026, 3, 26), "zero_balance_notice"),
                   (dt.date(2026, 3, 27), "disconnect_order")]

    world.pay("F1", "100.00", "2026-03-31", hour=11)
    with world.sessions.begin() as s:
        reconnect = cc.on_balance_change(s, "F1", now=at("2026-03-31", 11), catalog=world.catalog)
    assert reconnect.reconnects == 1
    [order] = _orders(world)
    assert order.kind == "reconnect" and order.available_fen == 16000 - 7475  # 150 kWh = 74.745 -> 74.75
    assert _state(world, "F1") == ("ok", "reconnect_ordered", 8525)
    _ack(world, order.order_id, "done", at("2026-03-31", 12))
    assert _state(world, "F1")[1] == "on"
    assert _run(world, at("2026-03-31", 13)).events == []  # nothing new

    with world.sessions.begin() as s:
        kinds = [n["kind"] for n in cc.notifications(s, account_no="F1")]
        zero = cc.notifications(s, account_no="F1")[1]["payload"]
    assert kinds == ["low_balance_warning", "zero_balance_notice", "supply_restored"]
    assert zero["disconnect_at"] == at("2026-03-27", 8).astimezone(dt.UTC).isoformat()
    assert [(o.kind, o.status) for o in _orders(world, None)] == [("disconnect", "done"), ("reconnect", "done")]


def test_payment_before_the_cut_cancels_the_disconnection(world: World) -> None:
    world.customer("F2", mode="prepaid", opening=("2026-03-01", "0"))
    world.pay("F2", "10.00", "2026-03-01")
    world.read("F2", "2026-03-05", "25", now=at("2026-03-05", 1))  # 12.46 > 10.00
    assert _run(world, at("2026-03-05", 9)).notices == 1
    world.pay("F2", "50.00", "2026-03-05", hour=20)
    assert _run(world, at("2026-03-06", 9)).disconnects == 0
    assert _state(world, "F2")[:2] == ("ok", "on")
    assert _orders(world, None) == []


def test_failed_orders_are_retried(world: World) -> None:
    world.customer("F3", mode="prepaid", opening=("2026-03-01", "0"))
    world.read("F3", "2026-03-02", "10", now=at("2026-03-02", 1))
    _run(world, at("2026-03-02", 9))
    _run(world, at("2026-03-03", 9))
    [first] = _orders(world)
    _ack(world, first.order_id, "failed", at("2026-03-03", 10))
    assert _state(world, "F3")[1] == "on"
    _run(world, at("2026-03-04", 9))
    [second] = _orders(world)
    assert second.kind == "disconnect" and second.order_id > first.order_id


def test_per_account_threshold_and_postpaid_ignored(world: World) -> None:
    world.customer("F4", mode="prepaid", opening=("2026-03-01", "0"), warning_threshold=5000)
    world.customer("F5", mode="postpaid", opening=("2026-03-01", "0"))
    world.pay("F4", "45.00", "2026-03-01")
    evaluation = _run(world, at("2026-03-02", 9))
    assert evaluation.accounts == 1 and evaluation.warnings == 1  # 45.00 < 50.00


def test_acknowledgement_rules(world: World) -> None:
    world.customer("F6", mode="prepaid", opening=("2026-03-01", "0"))
    world.read("F6", "2026-03-02", "10", now=at("2026-03-02", 1))
    _run(world, at("2026-03-02", 9))
    _run(world, at("2026-03-03", 9))
    [order] = _orders(world)
    assert order.not_before == at("2026-03-03", 8)
    for result in ("done", "failed"):  # carried out before its time: refused, the order stays pending
        with pytest.raises(OrderNotDue, match=r"may not be carried out before 2026-03-03 08:00 \(UTC\+8\)"):
            _ack(world, order.order_id, result, at("2026-03-03", 8) - dt.timedelta(minutes=1))
    assert _orders(world) == [order] and _state(world, "F6")[1] == "disconnect_ordered"
    done = _ack(world, order.order_id, "done", at("2026-03-03", 10))
    assert _ack(world, order.order_id, "done", at("2026-03-03", 11)) == done  # replay
    with pytest.raises(OrderStateError):
        _ack(world, order.order_id, "failed", at("2026-03-03", 11))
    with pytest.raises(OrderStateError):
        _ack(world, order.order_id, "maybe", at("2026-03-03", 11))
    with pytest.raises(OrderNotFound):
        _ack(world, 999_999, "done", at("2026-03-03", 11))


def test_a_run_as_of_a_later_instant_than_now_is_refused(world: World) -> None:
    """Red team: ``cost-control run --as-of`` 13 days ahead wrote disconnect orders dated in the future."""
    world.customer("F7", mode="prepaid", opening=("2026-03-01", "0"))
    world.read("F7", "2026-03-02", "10", now=at("2026-03-02", 1))
    now = at("2026-03-02", 9)
    with pytest.raises(FutureAsOf, match="is in the future"):
        cc.run(world.sessions, now=now, as_of=now + dt.timedelta(days=13), catalog=world.catalog,
               config=world.config)
    assert _orders(world, status=None) == []
    with world.sessions.begin() as s:
        assert s.get(CostControlState, "F7") is None  # nothing evaluated
    caught_up = cc.run(world.sessions, now=now, as_of=now - dt.timedelta(hours=1), catalog=world.catalog,
                       config=world.config)
    assert caught_up.notices == 1
