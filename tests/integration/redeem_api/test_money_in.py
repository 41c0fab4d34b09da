"""Money landing through the API triggers metering at once (metering.money_in):

* a month of cost control with an injected clock - warning, zero-balance notice, disconnect order - then
  the money arrives by ``POST /api/v1/payments`` or ``POST /api/v1/redemptions`` and the reconnect order
  is there for the head-end in the same commit, with no ``cost-control run``;
* the late fee of an overdue postpaid bill is charged on payment, *before* the payment is allocated:
  the money pays the bill, then the fee.
"""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from vouchers.metering import cost_control
from vouchers.metering.billing import run_billing
from vouchers.metering.config import MeteringConfig
from vouchers.metering.readings import reading_input, record_readings
from vouchers.storage.metering_models import CostControlState, LateFeeCharge, LateFeeState
from vouchers.tariffs import load_catalog
from tests.integration.redeem_api.world import auth, fresh_key

BEIJING = dt.timezone(dt.timedelta(hours=8))
PREPAID = "3100000005"
POSTPAID = "3100000006"
CATALOG = load_catalog()


def _local(day: dt.date | str, hour: int, minute: int = 0) -> dt.datetime:
    day = dt.date.fromisoformat(day) if isinstance(day, str) else day
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=BEIJING)


def _run(world, when: dt.datetime) -> cost_control.Evaluation:
    return cost_control.run(world.sessions, now=when, catalog=CATALOG, config=MeteringConfig())


def _read(world, account_no: str, day: dt.date, value: int) -> None:
    with world.sessions.begin() as s:
        record_readings(s, [reading_input(account_no=account_no, meter=f"M{account_no}",
                                          reading_date=day.isoformat(), reading=str(value))],
                        now=_local(day, 1))


def _orders(client, world, status: str = "pending") -> list[dict]:
    response = client.get(f"/api/v1/orders?status={status}&account_no={PREPAID}", headers=auth(world.keys["headend"]))
    assert response.status_code == 200
    return response.get_json()["orders"]


def _state(world) -> tuple[str, str, int]:
    with world.sessions.begin() as s:
        st = s.get(CostControlState, PREPAID)
        return st.notice_state, st.supply_state, st.available_fen


def _notifications(world) -> list[str]:
    with world.sessions.begin() as s:
        return [n["kind"] for n in cost_control.notifications(s, account_no=PREPAID)]


@pytest.fixture
def cut_off(client, world, clock):
    """A prepaid account (Fujian, 0.4983/kWh) with 60.00, 5 kWh a day through November, watched by the
    daily cost-control run; cut on the 26th at 08:00 and the cut acknowledged by the head-end."""
    world.metered_account(PREPAID, opening=("2026-10-31", "0"), prepaid=6000)
    events = []
    for i in range(1, 27):
        day = dt.date(2026, 10, 31) + dt.timedelta(days=i)
        _read(world, PREPAID, day, 5 * i)
        events += [(day.day, event) for _, event in _run(world, _local(day, 9)).events]
    # 65 kWh (32.39) leaves 27.61 < 30.00; 125 kWh (62.29) is more than the 60.00; cut the next day at 08:00
    assert events == [(13, "low_balance_warning"), (25, "zero_balance_notice"), (26, "disconnect_order")]
    [order] = _orders(client, world)
    assert (order["kind"], order["available_balance"]) == ("disconnect", "-4.78")  # 130 kWh = 64.78
    clock.now = _local("2026-11-26", 9, 30)
    ack = client.post(f"/api/v1/orders/{order['order_id']}/ack", json={"result": "done"},
                      headers=auth(world.keys["headend"], fresh_key()))
    assert ack.status_code == 200, ack.get_json()
    assert _state(world) == ("notice", "off", -478)
    clock.now = _local("2026-11-26", 10)
    return order


def _pay(client, world, amount: str, ref: str):
    return client.post("/api/v1/payments", json={"account_no": PREPAID, "amount": amount, "external_ref": ref},
                       headers=auth(world.keys["channel"], fresh_key()))


def _redeem(client, world, account_no: str, card: int = 0):
    return client.post("/api/v1/redemptions", json={"code": world.cards[card].code, "account_no": account_no},
                       headers=auth(world.keys["terminal"], fresh_key()))


def _reconnected(client, world, disconnect: dict, available: str) -> None:
    [order] = _orders(client, world)
    assert order["kind"] == "reconnect" and order["order_id"] > disconnect["order_id"]
    assert order["available_balance"] == available
    assert order["created_at"] == _local("2026-11-26", 10).astimezone(dt.UTC).isoformat()
    assert _state(world)[1] == "reconnect_ordered"
    assert _notifications(world)[-1] == "supply_restored"
    ack = client.post(f"/api/v1/orders/{order['order_id']}/ack", json={"result": "done"},
                      headers=auth(world.keys["headend"], fresh_key()))
    assert ack.status_code == 200 and _state(world)[1] == "on"
    assert _run(world, _local("2026-11-26", 11)).events == []  # the batch run has nothing left to do


def test_a_payment_orders_the_reconnection_at_once(client, world, cut_off):
    paid = _pay(client, world, "100.00", "reconnect-1")
    assert paid.status_code == 201, paid.get_json()
    assert paid.get_json()["available_balance"] == "95.22"  # 160.00 - 64.78
    _reconnected(client, world, cut_off, "95.22")


def test_a_redemption_orders_the_reconnection_at_once(client, world, cut_off):
    redeemed = _redeem(client, world, PREPAID)
    assert redeemed.status_code == 201, redeemed.get_json()
    _reconnected(client, world, cut_off, "95.22")


def test_the_redeem_page_orders_the_reconnection_at_once(client, world, cut_off):
    from tests.integration.redeem_api.test_web_page import open_form, submit

    _, fields = open_form(client)
    page = submit(client, fields, PREPAID, world.cards[0].code)
    assert page.status_code == 200, page.get_data(as_text=True)
    _reconnected(client, world, cut_off, "95.22")


def test_too_little_money_orders_nothing(client, world, cut_off):
    paid = _pay(client, world, "3.00", "reconnect-small")  # 63.00 - 64.78: still not positive
    assert paid.status_code == 201
    assert _orders(client, world) == []
    assert _state(world) == ("notice", "off", -178)  # evaluated with the money, still cut
    assert _notifications(world) == ["low_balance_warning", "zero_balance_notice"]
    assert _pay(client, world, "2.00", "reconnect-enough").status_code == 201  # 0.22 > 0
    assert [o["kind"] for o in _orders(client, world)] == ["reconnect"]


# -- late fees on payment --------------------------------------------------------------------------------


@pytest.fixture
def overdue(world):
    """A postpaid account billed 152.99 for October (300 kWh), due 2026-11-07, unpaid on the 26th."""
    world.metered_account(POSTPAID, mode="postpaid", opening=("2026-10-01", "0"))
    _read(world, POSTPAID, dt.date(2026, 10, 20), 300)
    billed = run_billing(world.sessions, "2026-10", as_of=dt.date(2026, 10, 31), now=_local("2026-10-31", 18),
                         catalog=CATALOG, config=MeteringConfig(), account_nos=[POSTPAID])
    assert billed.billed == 1 and world.balance(POSTPAID) == (0, 15299)
    return POSTPAID


def _charges(world) -> list[tuple[str, int]]:
    with world.sessions.begin() as s:
        return s.execute(select(LateFeeCharge.trigger, LateFeeCharge.fee_fen)
                         .where(LateFeeCharge.account_no == POSTPAID).order_by(LateFeeCharge.id)).all()


def test_a_payment_pays_the_late_fee_charged_before_it_is_allocated(client, world, overdue):
    paid = client.post("/api/v1/payments", json={"account_no": overdue, "amount": "200.00", "external_ref": "lf-1"},
                       headers=auth(world.keys["channel"], fresh_key()))
    assert paid.status_code == 201, paid.get_json()
    body = paid.get_json()
    # 19 days (11-08 .. 11-26, the payment day included) x 152.99 x 1 per mille = 2.90681 -> 2.91
    assert _charges(world) == [("payment", 291)]
    assert (body["applied_to_arrears"], body["credited_to_balance"], body["balance"]) == ("155.90", "44.10", "44.10")
    assert world.balance(overdue) == (4410, 0)
    again = client.post("/api/v1/payments", json={"account_no": overdue, "amount": "1.00", "external_ref": "lf-2"},
                        headers=auth(world.keys["channel"], fresh_key()))
    assert again.status_code == 201 and _charges(world) == [("payment", 291)]  # settled: nothing twice
    with world.sessions.begin() as s:
        assert [st.closed for st in s.query(LateFeeState)] == [True]


def test_a_late_payment_dated_earlier_is_charged_to_its_own_day(client, world, overdue):
    paid = client.post("/api/v1/payments", json={"account_no": overdue, "amount": "152.99", "external_ref": "lf-3",
                                                 "paid_at": "2026-11-20T15:00:00+08:00"},
                       headers=auth(world.keys["channel"], fresh_key()))
    assert paid.status_code == 201, paid.get_json()
    assert _charges(world) == [("payment", 199)]  # 13 days x 0.15299 = 1.98887 -> 1.99
    assert paid.get_json()["applied_to_arrears"] == "152.99"  # the electricity bill first (oldest due)
    assert world.balance(overdue) == (0, 199)  # the penalty is still owed


def test_a_redemption_pays_the_late_fee_too(client, world, overdue):
    redeemed = _redeem(client, world, overdue)
    assert redeemed.status_code == 201, redeemed.get_json()
    assert _charges(world) == [("payment", 291)]
    assert redeemed.get_json()["applied_to_arrears"] == "100.00"
    assert world.balance(overdue) == (0, 15299 + 291 - 10000)
