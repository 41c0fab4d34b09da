"""Keypad (STS) meter accounts: no month-to-date estimate from their readings, no remote cost control,
no low-balance (blue) collection warning.

Their energy is paid for when a token is vended (billing skips them), so
counting their readings again would show money they do not owe, and cut off
customers whose meters cut themselves off.
"""
from __future__ import annotations

import datetime as dt

from vouchers.metering import collection, money_in, prepaid
from vouchers.metering import cost_control as cc
from vouchers.storage.metering_models import CostControlOrder, CostControlState, MeteringNotification
from tests.integration.metering.conftest import World, at


def _twins(world: World) -> None:
    """R (read meter), K (active keypad meter), X (keypad meter deactivated): same money, same readings."""
    for no in ("R", "K", "X"):
        world.customer(no, mode="prepaid", opening=("2026-10-01", "0"))
        world.pay(no, "40.00", "2026-10-02")
    world.sts_meter("K", "600727000000000009")
    world.sts_meter("X", "600727000000000017", active=False)
    world.read_many([(no, f"M{no}", "2026-10-20", "100", None, None, False) for no in ("R", "K", "X")])


def _standing(world: World, account: str) -> prepaid.Standing:
    with world.sessions.begin() as s:
        found = prepaid.standing(s, account, now=at("2026-10-21"), catalog=world.catalog, config=world.config)
    assert found is not None
    return found


def test_the_estimate_leaves_out_keypad_meter_readings(world: World) -> None:
    _twins(world)
    read, keypad, replaced = _standing(world, "R"), _standing(world, "K"), _standing(world, "X")
    assert read.estimate_fen == 4983  # 100 kWh x 0.4983 (Fujian tier 1)
    assert read.available_fen == 4000 - 4983
    assert (keypad.estimate_fen, keypad.available_fen) == (0, 4000)
    assert keypad.unbilled_ckwh == read.unbilled_ckwh == 10000  # still recorded, for consumption reports
    assert (replaced.estimate_fen, replaced.available_fen) == (read.estimate_fen, read.available_fen)
    with world.sessions.begin() as s:
        fields = prepaid.kwh_fields(s, "K", now=at("2026-10-21"), catalog=world.catalog, config=world.config)
    assert fields["available_balance"] == "40.00"


def test_cost_control_leaves_keypad_meters_to_themselves(world: World) -> None:
    _twins(world)
    for day in ("2026-10-21", "2026-10-23"):  # notice, then past the cut: a disconnect order for R only
        cc.run(world.sessions, now=at(day, 9), catalog=world.catalog, config=world.config)
    with world.sessions.begin() as s:
        assert sorted(st.account_no for st in s.query(CostControlState)) == ["R", "X"]
        orders = [(o.account_no, o.kind) for o in s.query(CostControlOrder).order_by(CostControlOrder.id)]
        assert orders == [("R", "disconnect"), ("X", "disconnect")]
        assert {n.account_no for n in s.query(MeteringNotification)} == {"R", "X"}
        evaluation = cc.on_balance_change(s, "K", now=at("2026-10-23", 10), catalog=world.catalog,
                                          config=world.config)
        assert evaluation.accounts == 0
        # money landing on the keypad account: not watched, so nothing to read after booking
        assert money_in.gate(s, "K", pay_date=dt.date(2026, 10, 23)).watched is False
        assert money_in.gate(s, "R", pay_date=dt.date(2026, 10, 23)).watched is True


def test_no_low_balance_warning_for_a_keypad_meter(world: World) -> None:
    """Money vended to a keypad meter leaves the balance (10.00 left, below the 30.00 warning value):
    only the read meters' customers are warned."""
    for no in ("R", "K", "X"):
        world.customer(no, mode="prepaid", opening=("2026-10-01", "0"))
        world.pay(no, "10.00", "2026-10-02")
    world.sts_meter("K", "600727000000000009")
    world.sts_meter("X", "600727000000000017", active=False)
    with world.sessions.begin() as s:
        found = collection.warnings(s, now=at("2026-10-03"), catalog=world.catalog, config=world.config)
    assert {(w.account_no, w.level) for w in found} == {("R", "blue"), ("X", "blue")}
    assert all("below 30.00" in w.reasons[0] for w in found)
