"""A rule whose action is ``hold``: the API answers 202 ``status: held`` (redemptions and payments), the
replay answers the same, and nothing reaches the account."""
from __future__ import annotations

import re

from tests.integration.redeem_api.world import ACCOUNT_ARREARS, ACCOUNT_CLEAN, auth

HOLDING = {"VOUCHER_FRAUD_ACCOUNT_CARDS": "1", "VOUCHER_FRAUD_ACCOUNT_AMOUNT": "150.00",
           "VOUCHER_FRAUD_ACTIONS": "velocity.account_cards=hold,velocity.account_amount=hold"}


def test_held_money_is_a_202_with_status_held_and_its_replay_too(world, clock):
    app = world.app(clock, **HOLDING)
    client = app.test_client()
    terminal = world.keys["terminal"]
    first = client.post("/api/v1/redemptions", json={"code": world.cards[0].code, "account_no": ACCOUNT_CLEAN},
                        headers=auth(terminal, "h-1"))
    assert first.status_code == 201  # one card a day is allowed
    second = client.post("/api/v1/redemptions", json={"code": world.cards[1].code, "account_no": ACCOUNT_CLEAN},
                         headers=auth(terminal, "h-2"))
    assert second.status_code == 202, second.get_json()
    body = second.get_json()
    assert body["status"] == "held" and body["hold_id"].startswith("hold_") and body["amount"] == "100.00"
    assert body["rules"] == ["velocity.account_cards", "velocity.account_amount"] and body["serial"] == world.cards[1].serial
    replay = client.post("/api/v1/redemptions", json={"code": world.cards[1].code, "account_no": ACCOUNT_CLEAN},
                         headers=auth(terminal, "h-2"))
    assert replay.status_code == 202 and replay.get_json() == body
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert world.balance(ACCOUNT_CLEAN) == (10_000, 0)  # the first card only
    metrics = client.get("/metrics").get_data(as_text=True)
    assert re.search(r'voucher_redemptions_total\{outcome="held"\} [1-9]', metrics)  # counted as held

    channel = world.keys["channel"]
    paid = client.post("/api/v1/payments", json={"account_no": ACCOUNT_ARREARS, "amount": "200.00",
                                                 "external_ref": "HOLD-1"}, headers=auth(channel, "p-1"))
    assert paid.status_code == 202, paid.get_json()
    assert paid.get_json()["status"] == "held" and paid.get_json()["external_ref"] == "HOLD-1"
    retried = client.post("/api/v1/payments", json={"account_no": ACCOUNT_ARREARS, "amount": "200.00",
                                                    "external_ref": "HOLD-1"}, headers=auth(channel, "p-2"))
    assert retried.status_code == 202 and retried.get_json()["hold_id"] == paid.get_json()["hold_id"]
    assert retried.get_json()["created"] is False
    assert world.balance(ACCOUNT_ARREARS) == (0, 3_000)
    from redeem_api.state import EXTENSION

    app.extensions[EXTENSION].engine.dispose()


def test_the_customer_page_says_under_review_for_held_money(world, clock):
    from tests.integration.redeem_api.test_web_page import open_form, submit

    app = world.app(clock, VOUCHER_FRAUD_ACCOUNT_AMOUNT="50.00", VOUCHER_FRAUD_ACTIONS="velocity.account_amount=hold")
    client = app.test_client()
    _, fields = open_form(client)
    response = submit(client, fields, ACCOUNT_CLEAN, world.cards[0].code)
    page = response.get_data(as_text=True)
    assert response.status_code == 202 and "正在审核中" in page and "hold_" in page
    assert world.balance(ACCOUNT_CLEAN) == (0, 0)
    from redeem_api.state import EXTENSION

    app.extensions[EXTENSION].engine.dispose()
