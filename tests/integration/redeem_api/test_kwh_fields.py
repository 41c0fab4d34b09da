"""kWh fields (issue 7): prepaid accounts with a tariff get money <-> kWh on the account, redemption and
payment responses and the web page, equal to :func:`vouchers.metering.prepaid.kwh_fields`; other accounts get none."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from vouchers.metering.prepaid import kwh_fields
from vouchers.storage.api_models import OutboxMessage
from vouchers.tariffs import load_catalog
from tests.integration.redeem_api.test_web_page import open_form, submit
from tests.integration.redeem_api.world import ACCOUNT_CLEAN, ACCOUNT_METERED, auth, fresh_key
from vouchers.codes import group_code

KWH_KEYS = {"available_balance", "available_kwh", "credited_kwh", "kwh_tariff", "kwh_basis"}
CONTRACT_ACCOUNT_KEYS = {"account_no", "balance", "arrears", "currency", "holder_masked", "district_masked"}


@pytest.fixture
def prepaid(world):
    """Prepaid on the Fujian tariff with 50.00 paid and 50 kWh used since the opening reading (24.92)."""
    world.metered_account(prepaid=5000)
    _read(world, "2026-11-20", "150")
    return ACCOUNT_METERED


def _read(world, day: str, value: str) -> None:
    from vouchers.metering.readings import reading_input, record_readings

    with world.sessions.begin() as s:
        record_readings(s, [reading_input(account_no=ACCOUNT_METERED, meter=f"M{ACCOUNT_METERED}",
                                          reading_date=day, reading=value)], now=world.now)


def _expected(world, account_no: str, amount_minor: int | None = None) -> dict[str, str]:
    with world.sessions.begin() as s:
        return kwh_fields(s, account_no, now=world.now, catalog=load_catalog(), amount_minor=amount_minor)


def test_account_shows_the_available_balance_in_kwh(client, world, prepaid):
    body = client.get(f"/api/v1/accounts/{prepaid}", headers=auth(world.keys["finance"])).get_json()
    expected = _expected(world, prepaid)
    assert body == {"account_no": prepaid, "balance": "50.00", "arrears": "0.00", "currency": "CNY",
                    "holder_masked": "m*****d 3********3", "district_masked": None, **expected}
    assert body["available_balance"] == "25.08"  # 50.00 - 50 kWh x 0.4983 (24.915 -> 24.92)
    assert body["available_kwh"] == "50.33"  # 25.08 / 0.4983 = 50.331..., rounded down
    assert body["kwh_basis"] == "tier" and body["kwh_tariff"]
    assert "credited_kwh" not in body


def test_accounts_without_a_prepaid_tariff_get_no_kwh_fields(client, world):
    world.metered_account("3100000009", mode="postpaid")
    for account_no in (ACCOUNT_CLEAN, "3100000009"):
        body = client.get(f"/api/v1/accounts/{account_no}", headers=auth(world.keys["finance"])).get_json()
        assert set(body) == CONTRACT_ACCOUNT_KEYS, body
    payment = client.post("/api/v1/payments", json={"account_no": ACCOUNT_CLEAN, "amount": "5.00",
                                                    "external_ref": "no-kwh"},
                          headers=auth(world.keys["channel"], fresh_key())).get_json()
    assert not KWH_KEYS & set(payment)
    redemption = client.post("/api/v1/redemptions", json={"code": world.cards[0].code, "account_no": ACCOUNT_CLEAN},
                             headers=auth(world.keys["terminal"], fresh_key())).get_json()
    assert redemption["credited_to_balance"] == "100.00" and not KWH_KEYS & set(redemption)


def test_payment_shows_what_the_money_buys(client, world, prepaid):
    response = client.post("/api/v1/payments", json={"account_no": prepaid, "amount": "100.00",
                                                     "external_ref": "kwh-1"},
                           headers=auth(world.keys["channel"], fresh_key()))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    expected = _expected(world, prepaid, 10000)
    # 180 kWh left in tier 1 (89.694), the rest 10.306 / 0.5483 = 18.79 in tier 2, rounded down
    assert body["credited_kwh"] == expected["amount_kwh"] == "198.79"
    assert body["available_balance"] == expected["available_balance"] == "125.08"
    assert body["available_kwh"] == expected["available_kwh"]
    assert (body["kwh_tariff"], body["kwh_basis"]) == (expected["kwh_tariff"], expected["kwh_basis"])
    assert body["balance"] == "150.00"  # the contract's fields are unchanged


def test_redemption_shows_what_the_card_buys(client, world, prepaid):
    response = client.post("/api/v1/redemptions", json={"code": world.cards[1].code, "account_no": prepaid},
                           headers=auth(world.keys["terminal"], fresh_key()))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    expected = _expected(world, prepaid, 10000)
    assert body["credited_kwh"] == expected["amount_kwh"]
    assert {k: body[k] for k in ("available_balance", "available_kwh", "kwh_tariff", "kwh_basis")} == {
        k: expected[k] for k in ("available_balance", "available_kwh", "kwh_tariff", "kwh_basis")}
    assert body["available_balance"] == "125.08"
    with world.sessions.begin() as s:
        payload = json.loads(s.execute(select(OutboxMessage.payload)
                                       .where(OutboxMessage.kind == "sms.voucher_redeemed")).scalar_one())
    assert payload["credited_kwh"] == body["credited_kwh"]  # the customer's SMS can say it too


def test_kwh_beyond_the_first_tier(client, world, prepaid):
    _read(world, "2026-11-25", "400")  # 300 kWh this month: past the 230 kWh tier
    body = client.get(f"/api/v1/accounts/{prepaid}", headers=auth(world.keys["terminal"])).get_json()
    assert body == {**body, **_expected(world, prepaid)}
    assert body["available_balance"].startswith("-") and body["available_kwh"] == "0.00"


@pytest.mark.parametrize("lang, label", [("en", "Energy this recharge buys"), ("zh", "本次充值可购电量")])
def test_web_page_shows_kwh(client, world, prepaid, lang, label):
    _, fields = open_form(client, lang)
    response = submit(client, fields, prepaid, group_code(world.cards[2].code))
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    expected = _expected(world, prepaid, 10000)
    assert label in html
    assert f'id="result-credited-kwh" data-kwh="{expected["amount_kwh"]}">{expected["amount_kwh"]} kWh' in html
    assert f'id="result-available-kwh" data-kwh="{expected["available_kwh"]}"' in html
    assert f'id="result-available" data-balance="{expected["available_balance"]}"' in html
    assert 'id="kwh-note"' in html


def test_web_page_without_a_tariff_shows_no_kwh(client, world):
    _, fields = open_form(client, "en")
    html = submit(client, fields, ACCOUNT_CLEAN, group_code(world.cards[3].code)).get_data(as_text=True)
    assert "Recharge successful" in html and "kWh" not in html
