"""The metering head-end's routes: readings (idempotent, all or nothing), orders list and acknowledgement."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from vouchers.metering import cost_control
from vouchers.metering.config import MeteringConfig
from vouchers.storage.metering_models import CostControlState, Meter, MeteringAccount, MeterReading
from vouchers.tariffs import load_catalog
from tests.integration.redeem_api.world import ACCOUNT_METERED, auth, fresh_key

METER = f"M{ACCOUNT_METERED}"


def _reading(day: str, value: str, **extra) -> dict:
    return {"account_no": ACCOUNT_METERED, "meter": METER, "reading_date": day, "reading": value, **extra}


def _post(client, world, readings, *, key: str | None = None, who: str = "headend"):
    return client.post("/api/v1/readings", json={"readings": readings},
                       headers=auth(world.keys[who], key or fresh_key()))


def _rows(world) -> list[tuple]:
    with world.sessions.begin() as s:
        return [tuple(r) for r in s.execute(
            select(MeterReading.meter_no, MeterReading.reading_date, MeterReading.reading_ckwh,
                   MeterReading.kwh_ckwh, MeterReading.replacement, MeterReading.source)
            .order_by(MeterReading.id)).all()]


@pytest.fixture
def metered(world):
    return world.metered_account()


def test_readings_are_recorded_and_a_repeat_changes_nothing(client, world, metered):
    readings = [_reading("2026-11-10", "150.5"), _reading("2026-11-20", "200")]
    key = fresh_key()
    first = _post(client, world, readings, key=key)
    assert first.status_code == 201, first.get_json()
    assert first.get_json() == {"received": 2, "recorded": 2, "duplicates": 0}
    rows = _rows(world)
    assert rows[1:] == [(METER, dt.date(2026, 11, 10), 15050, 5050, False, "head-end"),
                        (METER, dt.date(2026, 11, 20), 20000, 4950, False, "head-end")]
    replay = _post(client, world, readings, key=key)
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    again = _post(client, world, readings)  # the same readings under a new key: duplicates, nothing written
    assert again.status_code == 200 and again.get_json() == {"received": 2, "recorded": 0, "duplicates": 2}
    assert _rows(world) == rows
    other_value = _post(client, world, [_reading("2026-11-20", "201")])
    assert other_value.status_code == 422
    assert other_value.get_json()["error"]["code"] == "reading_conflict"
    assert _rows(world) == rows


def test_the_admin_may_post_readings_too(client, world, metered):
    response = _post(client, world, [_reading("2026-11-10", "101")], who="admin")
    assert response.status_code == 201


def test_a_decreasing_reading_is_refused_and_nothing_of_the_batch_is_kept(client, world, metered):
    before = _rows(world)
    response = _post(client, world, [_reading("2026-11-10", "150"), _reading("2026-11-11", "99.99")])
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "decreasing_reading" and error["total_errors"] == 1
    assert [(e["index"], e["code"]) for e in error["errors"]] == [(1, "decreasing_reading")]
    assert "nothing was recorded" in error["message"]
    assert _rows(world) == before  # the good first reading was not kept either


def test_a_meter_replacement_is_accepted(client, world, metered):
    response = _post(client, world, [_reading("2026-11-10", "150"),
                                     {**_reading("2026-11-10", "0.5", replacement=True), "meter": "M-NEW-1"}])
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["recorded"] == 2
    with world.sessions.begin() as s:
        assert s.get(MeteringAccount, ACCOUNT_METERED).meter_no == "M-NEW-1"
        assert s.get(Meter, METER).removed_on == dt.date(2026, 11, 10)
    assert _rows(world)[-1] == ("M-NEW-1", dt.date(2026, 11, 10), 50, 0, True, "head-end")
    # The new meter counts from its own register; the old meter is no longer read.
    later = _post(client, world, [{**_reading("2026-11-15", "10.5"), "meter": "M-NEW-1"}])
    assert later.status_code == 201 and _rows(world)[-1][3] == 1000
    old = _post(client, world, [_reading("2026-11-16", "160")])
    assert old.status_code == 422 and old.get_json()["error"]["code"] == "unknown_meter"


def test_unknown_meter_and_unmetered_account_are_refused(client, world, metered):
    before = _rows(world)
    unknown = _post(client, world, [{**_reading("2026-11-10", "150"), "meter": "NO-SUCH-METER"}])
    assert unknown.status_code == 422
    assert unknown.get_json()["error"]["code"] == "unknown_meter"
    assert unknown.get_json()["error"]["errors"][0]["index"] == 0
    unmetered = _post(client, world, [{**_reading("2026-11-10", "150"), "account_no": "3100000002"}])
    assert unmetered.status_code == 422
    assert unmetered.get_json()["error"]["code"] == "account_not_metered"
    assert _rows(world) == before


@pytest.mark.parametrize("reading, status, code", [
    ({"reading": "-1"}, 422, "invalid_reading"),
    ({"reading": "12.345"}, 422, "invalid_reading"),
    ({"reading": "1e3"}, 422, "invalid_reading"),
    ({"reading_date": "2026-13-01"}, 422, "invalid_reading"),
    ({"reading_date": "20261110"}, 422, "invalid_reading"),
    ({"reading_date": "2026-11-27"}, 422, "invalid_reading"),  # tomorrow in Beijing
    ({"reading_date": "2026-10-31"}, 422, "invalid_reading"),  # before the latest reading
    ({"peak": "10"}, 422, "invalid_reading"),  # peak without valley
    ({"reading": 150.5}, 400, "validation_error"),  # numbers are refused: kWh are decimal strings
    ({"reading": 150}, 400, "validation_error"),
    ({"reading": None}, 400, "validation_error"),
    ({"meter": ""}, 400, "validation_error"),
    ({"meter": "M\x00"}, 400, "validation_error"),
    ({"account_no": "31 00"}, 400, "validation_error"),
    ({"replacement": "yes"}, 400, "validation_error"),
])
def test_bad_readings_are_4xx_with_a_stable_code_and_nothing_is_written(client, world, metered, reading, status,
                                                                        code):
    before = _rows(world)
    good = _reading("2026-11-10", "150")
    response = _post(client, world, [good, {**_reading("2026-11-11", "160"), **reading}])
    assert response.status_code == status, response.get_json()
    assert response.headers["Content-Type"] == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == code and error["errors"][0]["index"] == 1 and error["message"]
    assert _rows(world) == before


@pytest.mark.parametrize("body, code", [
    (b"{not json", "malformed_json"),
    (b"[]", "malformed_json"),
    (b'{"readings": []}', "validation_error"),
    (b'{"readings": {}}', "validation_error"),
    (b'{"readings": [1]}', "validation_error"),
    (b'{}', "validation_error"),
])
def test_malformed_bodies_are_400(client, world, metered, body, code):
    before = _rows(world)
    response = client.post("/api/v1/readings", data=body, content_type="application/json",
                           headers=auth(world.keys["headend"], fresh_key()))
    assert response.status_code == 400 and response.get_json()["error"]["code"] == code
    assert _rows(world) == before


def test_readings_need_an_idempotency_key_and_json(client, world, metered):
    body = {"readings": [_reading("2026-11-10", "150")]}
    response = client.post("/api/v1/readings", json=body, headers=auth(world.keys["headend"]))
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "idempotency_key_required"
    response = client.post("/api/v1/readings", data="x", content_type="text/csv",
                           headers=auth(world.keys["headend"], fresh_key()))
    assert response.status_code == 415
    key = fresh_key()
    assert _post(client, world, body["readings"], key=key).status_code == 201
    reused = _post(client, world, [_reading("2026-11-11", "151")], key=key)
    assert reused.status_code == 422 and reused.get_json()["error"]["code"] == "idempotency_key_reused"


# -- orders ---------------------------------------------------------------------------------------------
def _cost_control_run(world, when: dt.datetime) -> cost_control.Evaluation:
    return cost_control.run(world.sessions, now=when, catalog=load_catalog(), config=MeteringConfig())


def _local(day: str, hour: int) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour), tzinfo=dt.timezone(dt.timedelta(hours=8)))


@pytest.fixture
def disconnect_order(client, world, clock, metered):
    """A prepaid account that ran dry: 100 kWh (49.83) against 10.00, noticed on the 20th, cut on the 21st."""
    with world.sessions.begin() as s:
        from vouchers.books.payments import post_payment

        post_payment(s, "counter_cash", ACCOUNT_METERED, 1000, "P-1", _local("2026-11-02", 9), _local("2026-11-02", 9))
    assert _post(client, world, [_reading("2026-11-19", "200")]).status_code == 201
    assert _cost_control_run(world, _local("2026-11-20", 9)).notices == 1
    assert _cost_control_run(world, _local("2026-11-21", 7)).disconnects == 0  # before the 08:00 cut
    assert _cost_control_run(world, _local("2026-11-21", 9)).disconnects == 1
    clock.now = _local("2026-11-21", 10)
    return client.get("/api/v1/orders", headers=auth(world.keys["headend"])).get_json()["orders"][0]


def test_orders_are_listed_and_acknowledged_once(client, world, clock, disconnect_order):
    order = disconnect_order
    assert order["kind"] == "disconnect" and order["status"] == "pending" and order["meter_no"] == METER
    assert order["available_balance"] == "-39.83"
    assert order["not_before"] == "2026-11-21T00:00:00+00:00"  # 08:00 in Beijing
    assert order["acknowledged_at"] is None
    path = f"/api/v1/orders/{order['order_id']}/ack"
    done = client.post(path, json={"result": "done", "detail": "relay open"},
                       headers=auth(world.keys["headend"], fresh_key()))
    assert done.status_code == 200, done.get_json()
    body = done.get_json()
    assert body["status"] == "done" and body["result_detail"] == "relay open"
    assert body["acknowledged_at"] == "2026-11-21T02:00:00+00:00"
    assert body["acknowledged_by"] == f"api:{world.client_ids['headend']}"
    with world.sessions.begin() as s:
        assert s.get(CostControlState, ACCOUNT_METERED).supply_state == "off"
    clock.advance(3600)
    again = client.post(path, json={"result": "done"}, headers=auth(world.keys["headend"], fresh_key()))
    assert again.status_code == 200 and again.get_json() == body  # idempotent: unchanged
    other = client.post(path, json={"result": "failed"}, headers=auth(world.keys["headend"], fresh_key()))
    assert other.status_code == 409 and other.get_json()["error"]["code"] == "order_not_pending"
    pending = client.get("/api/v1/orders", headers=auth(world.keys["headend"])).get_json()
    assert pending == {"orders": [], "next_after_id": None}
    done_list = client.get("/api/v1/orders?status=done", headers=auth(world.keys["admin"])).get_json()["orders"]
    assert [o["order_id"] for o in done_list] == [order["order_id"]]


def test_an_acknowledgement_before_the_orders_not_before_is_refused(client, world, clock, disconnect_order):
    """Red team: the head-end's ack was accepted before ``not_before``, turning supply off early."""
    path = f"/api/v1/orders/{disconnect_order['order_id']}/ack"
    clock.now = _local("2026-11-21", 7)  # the order is due at 08:00
    key = fresh_key()
    early = client.post(path, json={"result": "done"}, headers=auth(world.keys["headend"], key))
    assert early.status_code == 409, early.get_json()
    error = early.get_json()["error"]
    assert error["code"] == "order_not_due" and "2026-11-21 08:00 (UTC+8)" in error["message"]
    with world.sessions.begin() as s:
        assert s.get(CostControlState, ACCOUNT_METERED).supply_state == "disconnect_ordered"
    clock.now = _local("2026-11-21", 8)
    due = client.post(path, json={"result": "done"}, headers=auth(world.keys["headend"], key))  # same key: not stored
    assert due.status_code == 200 and due.get_json()["status"] == "done"


def test_a_failed_order_is_ordered_again_by_the_next_run(client, world, clock, disconnect_order):
    path = f"/api/v1/orders/{disconnect_order['order_id']}/ack"
    failed = client.post(path, json={"result": "failed", "detail": "no signal"},
                         headers=auth(world.keys["headend"], fresh_key()))
    assert failed.status_code == 200 and failed.get_json()["status"] == "failed"
    assert _cost_control_run(world, _local("2026-11-21", 12)).disconnects == 1
    pages = []
    after = 0
    while True:
        page = client.get(f"/api/v1/orders?status=all&limit=1&after_id={after}",
                          headers=auth(world.keys["headend"])).get_json()
        pages.append([(o["kind"], o["status"]) for o in page["orders"]])
        if page["next_after_id"] is None:
            break
        after = page["next_after_id"]
    assert pages == [[("disconnect", "failed")], [("disconnect", "pending")], []]
    by_account = client.get(f"/api/v1/orders?account_no={ACCOUNT_METERED}&status=pending",
                            headers=auth(world.keys["headend"])).get_json()["orders"]
    assert len(by_account) == 1
    assert client.get("/api/v1/orders?account_no=3100000002",
                      headers=auth(world.keys["headend"])).get_json()["orders"] == []


@pytest.mark.parametrize("order_id", ["999999", "0", "abc", "99999999999999999999", "-1"])
def test_unknown_orders_are_404(client, world, order_id):
    response = client.post(f"/api/v1/orders/{order_id}/ack", json={"result": "done"},
                           headers=auth(world.keys["headend"], fresh_key()))
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "order_not_found"


@pytest.mark.parametrize("query", ["status=open", "limit=0", "limit=1001", "limit=x", "after_id=-1",
                                   "after_id=99999999999999999999", "account_no=%20"])
def test_bad_order_queries_are_400(client, world, query):
    response = client.get(f"/api/v1/orders?{query}", headers=auth(world.keys["headend"]))
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize("body", [{}, {"result": "ok"}, {"result": "done", "detail": 5},
                                  {"result": "done", "detail": "x" * 2001}])
def test_bad_acknowledgements_are_400(client, world, body):
    response = client.post("/api/v1/orders/1/ack", json=body, headers=auth(world.keys["headend"], fresh_key()))
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "validation_error"


def test_a_first_reading_whose_peak_and_valley_do_not_make_up_the_register_is_refused(client, world):
    """An account set up without an opening reading: its first reading is the registers' baseline."""
    from vouchers.books.customers import create_customer
    from vouchers.metering.accounts import assign_tariff

    with world.sessions.begin() as s:
        create_customer(s, "3100000009", "time of use", now=world.now)
        assign_tariff(s, "3100000009", tariff_id="fj-residential", customer_class="residential",
                      payment_mode="postpaid", area="Xiamen", meter_no="MT9", catalog=load_catalog(), now=world.now,
                      time_of_use=True)

    def reading(day: str, value: str, peak: str, valley: str) -> dict:
        return {"account_no": "3100000009", "meter": "MT9", "reading_date": day, "reading": value, "peak": peak,
                "valley": valley}

    before = _rows(world)
    bad = _post(client, world, [reading("2026-11-01", "800", "500", "200")])
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "invalid_reading"
    assert "do not add up to the register" in bad.get_json()["error"]["errors"][0]["message"]
    assert _rows(world) == before
    good = _post(client, world, [reading("2026-11-01", "800", "500", "300"), reading("2026-11-20", "900", "550", "350")])
    assert good.status_code == 201, good.get_json()
    later = _post(client, world, [reading("2026-11-25", "950", "560", "390")])  # accepted, not refused forever
    assert later.status_code == 201, later.get_json()
