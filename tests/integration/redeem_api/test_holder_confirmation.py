"""Whose account? The masked holder before a card is spent (terminals and /redeem), and no enumeration."""
from __future__ import annotations

from tests.integration.redeem_api.test_web_page import confirm, form_fields, open_form
from tests.integration.redeem_api.world import ACCOUNT_ARREARS, ACCOUNT_CLEAN, auth, fresh_key
from vouchers.storage.api_models import Redemption


def test_terminals_see_the_masked_holder_before_and_after_redeeming(client, world):
    account = client.get(f"/api/v1/accounts/{ACCOUNT_ARREARS}", headers=auth(world.keys["terminal"])).get_json()
    assert account["holder_masked"] == "张*" and account["district_masked"] == "海*区"
    assert account["balance"] == "0.00" and account["arrears"] == "30.00"  # existing fields unchanged
    clean = client.get(f"/api/v1/accounts/{ACCOUNT_CLEAN}", headers=auth(world.keys["terminal"])).get_json()
    assert clean["holder_masked"] == "李*" and clean["district_masked"] is None
    redeemed = client.post("/api/v1/redemptions", json={"code": world.cards[0].code, "account_no": ACCOUNT_ARREARS},
                           headers=auth(world.keys["terminal"], fresh_key()))
    assert redeemed.status_code == 201 and redeemed.get_json()["holder_masked"] == "张*"


def test_holder_lookups_cannot_enumerate_accounts(world):
    app = world.app(VOUCHER_THROTTLE_CLIENT_LOOKUPS="5", VOUCHER_THROTTLE_CLIENT_FAILURES="3",
                    VOUCHER_THROTTLE_WEB_IP_LOOKUPS="4")
    client = app.test_client()
    terminal, other = auth(world.keys["terminal"]), auth(world.keys["terminal2"])
    answers = [client.get(f"/api/v1/accounts/31000000{i:02d}", headers=terminal) for i in range(1, 8)]
    assert [r.status_code for r in answers[:3]] == [200, 200, 404]  # the third is unknown: one failure
    assert answers[-1].status_code == 429 and int(answers[-1].headers["Retry-After"]) > 0
    assert client.get(f"/api/v1/accounts/{ACCOUNT_CLEAN}", headers=terminal).status_code == 429
    assert client.get(f"/api/v1/accounts/{ACCOUNT_CLEAN}", headers=other).status_code == 200  # per client
    # a till locked out by failed redemptions may not look holders up either
    for _ in range(3):
        assert client.get("/api/v1/accounts/9999999999", headers=other).status_code == 404
    assert client.get(f"/api/v1/accounts/{ACCOUNT_CLEAN}", headers=other).status_code == 429
    # the customer page: per IP
    for i in range(5):
        _, fields = open_form(client, "en")
        step = client.post("/redeem", data={**fields, "account_no": ACCOUNT_CLEAN, "code": world.cards[0].code})
        assert step.status_code == (200 if i < 4 else 429), i
    assert "Retry-After" in step.headers and world.count(Redemption) == 0


def test_the_code_is_spent_only_after_the_customer_confirms(client, world):
    _, fields = open_form(client, "zh")
    code = world.cards[0].code
    first = client.post("/redeem", data={**fields, "account_no": ACCOUNT_ARREARS, "code": code})
    html = first.get_data(as_text=True)
    assert first.status_code == 200 and 'id="confirm-holder">张*<' in html and 'id="confirm-district">海*区<' in html
    assert code not in html and code not in first.headers.get("Set-Cookie", "")  # sealed in the ticket
    assert world.count(Redemption) == 0 and world.balance(ACCOUNT_ARREARS) == (0, 3000)
    done = confirm(client, first)
    page = done.get_data(as_text=True)
    assert done.status_code == 200 and 'id="result-account">3100000001<' in page and 'id="result-holder">张*<' in page
    assert world.balance(ACCOUNT_ARREARS) == (7000, 0)
    # the ticket is bound to this visitor's session and cannot be altered
    stranger = client.application.test_client()
    _, theirs = open_form(stranger, "zh")
    ticket = form_fields(html)["ticket"]
    assert stranger.post("/redeem/confirm", data={**theirs, "ticket": ticket}).status_code == 400
    forged = ticket[:-2] + ("AA" if ticket[-2:] != "AA" else "BB")
    refused = client.post("/redeem/confirm", data={**form_fields(html), "ticket": forged})
    assert refused.status_code == 400 and 'data-code="confirmation_expired"' in refused.get_data(as_text=True)
    assert world.count(Redemption) == 1
