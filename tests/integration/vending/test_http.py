"""End to end over HTTP: a card redeemed (or a payment posted) onto an STS-meter account returns a token."""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from vouchers.metering import positions as pos
from vouchers.metering.prepaid import kwh_for_money
from vouchers.storage.api_models import OutboxMessage
from vouchers.storage.models import Voucher
from vouchers.sts.amount import kwh_to_units, representable_units, units_to_kwh
from vouchers.sts.decoder import decode_token
from vouchers.sts.dkga04 import derive_decoder_key
from vouchers.tariffs import load_catalog
from tests.integration.redeem_api.world import (
    ACCOUNT_ARREARS,
    ACCOUNT_CLEAN,
    Clock,
    auth,
    build_world,
    fresh_key,
)
from tests.integration.redeem_api.test_web_page import confirm
from tests.integration.vending.conftest import PAN, VENDING_KEY, with_keypad_meter
from vouchers.vending.meters import get_meter

CATALOG = load_catalog()


@pytest.fixture
def world(tmp_path, db_url, now):
    world = with_keypad_meter(build_world(tmp_path, db_url, now), now)
    yield world
    world.engine.dispose()


@pytest.fixture
def client(world, now):
    app = world.app(Clock(now))
    yield app.test_client()
    from redeem_api.state import EXTENSION

    app.extensions[EXTENSION].engine.dispose()


def expected_units(world, amount_fen, now):
    with world.sessions.begin() as s:
        position = pos.load(s, [ACCOUNT_CLEAN], cutoff=now.date())[0]
        kwh = kwh_for_money(position, amount_fen, CATALOG, now.date())
    return representable_units(kwh_to_units(kwh))


def decode(world, grouped):
    with world.sessions.begin() as s:
        params = get_meter(s, PAN).params()
    return decode_token(grouped, derive_decoder_key(VENDING_KEY, params)).verified()


def test_redeemed_card_returns_a_token_the_decoder_turns_into_the_tariff_kwh(client, world, now):
    units = expected_units(world, 10000, now)
    card = world.cards[0]
    response = client.post("/api/v1/redemptions", json={"code": card.code, "account_no": ACCOUNT_CLEAN},
                           headers=auth(world.keys["terminal"], fresh_key()))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["amount"] == "100.00" and body["credited_to_balance"] == "100.00"  # contract kept
    sts = body["sts"]
    assert re.fullmatch(r"\d{4}( \d{4}){4}", sts["token"])
    decoded = decode(world, sts["token"])
    assert decoded.kind == "electricity_credit"
    assert decoded.units == units
    assert sts["kwh"] == str(units_to_kwh(units)) and decoded.tid == sts["tid"]
    with world.sessions.begin() as s:
        payloads = [json.loads(p) for p in s.execute(select(OutboxMessage.payload)).scalars()]
    assert any(p.get("sts", {}).get("token") == sts["token"] for p in payloads)
    _books_after_vend(world, revenue=10000)


def _books_after_vend(world, *, revenue):
    """The vended money left the prepaid balance for revenue, in the vend's transaction; the books verify."""
    from sqlalchemy import func

    from vouchers.books import chart
    from vouchers.books.verify import verify
    from vouchers.storage.ledger_models import LedgerAccount, LedgerPosting, LedgerTransaction

    assert world.balance(ACCOUNT_CLEAN) == (0, 0)
    with world.sessions.begin() as s:
        sold = s.execute(select(func.coalesce(func.sum(LedgerPosting.amount), 0))
                         .join(LedgerTransaction, LedgerTransaction.id == LedgerPosting.transaction_id)
                         .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
                         .where(LedgerTransaction.kind == "energy_sale", LedgerAccount.code == chart.REVENUE)
                         ).scalar_one()
        assert -sold == revenue
        report = verify(s, today=None)
    assert report.ok, [p.as_dict() for p in report.problems]


def test_credited_kwh_are_the_kwh_of_the_token(client, world, now):
    """After the vend the account sits higher in its tiers: the response's ``credited_kwh`` must still be what
    this money bought (the token's tariff kWh), not what the same money would buy next. Fujian: 100.00 buys
    200.68 kWh in tier 1, the next 100.00 185.05 kWh (29.32 in tier 1, the rest at 0.5483)."""
    bodies = []
    for card in world.cards[:2]:
        response = client.post("/api/v1/redemptions", json={"code": card.code, "account_no": ACCOUNT_CLEAN},
                               headers=auth(world.keys["terminal"], fresh_key()))
        assert response.status_code == 201, response.get_json()
        bodies.append(response.get_json())
    assert [(b["sts"]["tariff_kwh"], b["credited_kwh"]) for b in bodies] == [("200.68", "200.68"),
                                                                              ("185.05", "185.05")]
    body = {"account_no": ACCOUNT_CLEAN, "amount": "100.00", "external_ref": "ALI-KWH"}
    paid = client.post("/api/v1/payments", json=body, headers=auth(world.keys["channel"], fresh_key())).get_json()
    # from 385.73 kWh: 34.27 kWh left in tier 2 cost 18.790241, and 81.209759 / 0.7983 = 101.72... kWh
    assert paid["credited_kwh"] == paid["sts"]["tariff_kwh"] == "135.99"


def test_account_without_sts_meter_has_no_sts_field(client, world):
    response = client.post("/api/v1/redemptions", json={"code": world.cards[1].code, "account_no": ACCOUNT_ARREARS},
                           headers=auth(world.keys["terminal"], fresh_key()))
    assert response.status_code == 201 and "sts" not in response.get_json()


def test_payment_returns_a_token_and_a_replay_the_same_one(client, world, now):
    units = expected_units(world, 5000, now)
    body = {"account_no": ACCOUNT_CLEAN, "amount": "50.00", "external_ref": "ALI-1"}
    first = client.post("/api/v1/payments", json=body, headers=auth(world.keys["channel"], fresh_key()))
    assert first.status_code == 201, first.get_json()
    sts = first.get_json()["sts"]
    assert decode(world, sts["token"]).units == units
    again = client.post("/api/v1/payments", json=body, headers=auth(world.keys["channel"], fresh_key()))
    assert again.status_code == 200 and again.get_json()["sts"]["token"] == sts["token"]
    _books_after_vend(world, revenue=5000)  # the replay booked nothing twice


def test_web_page_shows_the_token(client, world):
    page = client.get("/redeem?lang=en")
    fields = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', page.get_data(as_text=True)))
    response = confirm(client, client.post("/redeem", data={**fields, "account_no": ACCOUNT_CLEAN,
                                                             "code": world.cards[2].code}))
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    token = re.search(r'id="sts-token" data-token="([0-9 ]+)"', html).group(1)
    assert decode(world, token).kind == "electricity_credit"


def test_refused_vend_refuses_the_redemption_and_moves_no_money(client, world, now):
    with world.sessions.begin() as s:
        meter = s.get(__import__("vouchers.storage.sts_models", fromlist=["StsMeter"]).StsMeter, PAN)
        meter.ken = 10  # expired long ago for a 2026 TID
    card = world.cards[3]
    response = client.post("/api/v1/redemptions", json={"code": card.code, "account_no": ACCOUNT_CLEAN},
                           headers=auth(world.keys["terminal"], fresh_key()))
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "sts_key_expired"
    assert world.balance(ACCOUNT_CLEAN) == (0, 0)
    _books_after_vend(world, revenue=0)  # nothing moved
    with world.sessions.begin() as s:
        assert s.execute(select(Voucher.status).where(Voucher.serial == card.serial)).scalar_one() == "active"


def _ledger_prepaid(world) -> int:  # type: ignore[no-untyped-def]
    """The prepaid balance straight from the postings (normal side: positive = the customer's money)."""
    from sqlalchemy import func

    from vouchers.books import chart
    from vouchers.storage.ledger_models import LedgerAccount, LedgerPosting

    with world.sessions.begin() as s:
        return -s.execute(select(func.coalesce(func.sum(LedgerPosting.amount), 0))
                          .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
                          .where(LedgerAccount.code == chart.customer_prepaid(ACCOUNT_CLEAN))).scalar_one()


def _account(client, world) -> dict:  # type: ignore[no-untyped-def]
    response = client.get(f"/api/v1/accounts/{ACCOUNT_CLEAN}", headers=auth(world.keys["terminal"]))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _fund(world, amount_fen: int, now) -> None:  # type: ignore[no-untyped-def]
    """Prepaid money that is not vended (posted behind the API's back, as a counter would before the meter)."""
    from vouchers.books.payments import post_payment

    with world.sessions.begin() as s:
        post_payment(s, "counter_cash", ACCOUNT_CLEAN, amount_fen, "FUND-1", now, now)


KWH_FIELDS = ("available_balance", "available_kwh", "kwh_tariff", "kwh_basis")


def _matches_the_account(response_body: dict, account: dict, ledger_fen: int) -> None:
    assert response_body["balance"] == account["balance"] == f"{ledger_fen / 100:.2f}"
    assert {k: response_body[k] for k in KWH_FIELDS} == {k: account[k] for k in KWH_FIELDS}


def test_redemption_response_shows_the_balance_after_the_energy_sale(client, world, now):
    _fund(world, 1234, now)  # 12.34 already on the balance stays there: only the card's money is vended
    response = client.post("/api/v1/redemptions", json={"code": world.cards[0].code, "account_no": ACCOUNT_CLEAN},
                           headers=auth(world.keys["terminal"], fresh_key()))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["sts"]["token"] and body["credited_to_balance"] == "100.00"
    assert _ledger_prepaid(world) == 1234
    _matches_the_account(body, _account(client, world), 1234)
    with world.sessions.begin() as s:  # the SMS says the same
        payload = json.loads(s.execute(select(OutboxMessage.payload)
                                       .where(OutboxMessage.kind == "sms.voucher_redeemed")).scalar_one())
    assert payload["balance"] == "12.34"


def test_payment_response_and_its_replay_show_the_balance_after_the_energy_sale(client, world, now):
    _fund(world, 500, now)
    body = {"account_no": ACCOUNT_CLEAN, "amount": "50.00", "external_ref": "ALI-BAL"}
    first = client.post("/api/v1/payments", json=body, headers=auth(world.keys["channel"], fresh_key()))
    assert first.status_code == 201, first.get_json()
    assert first.get_json()["sts"]["token"]
    _matches_the_account(first.get_json(), _account(client, world), 500)
    again = client.post("/api/v1/payments", json=body, headers=auth(world.keys["channel"], fresh_key()))
    assert again.status_code == 200 and again.get_json()["balance"] == "5.00"  # replayed: still after the sale
    assert _ledger_prepaid(world) == 500


def test_web_page_shows_the_balance_after_the_energy_sale(client, world, now):
    _fund(world, 700, now)
    page = client.get("/redeem?lang=en")
    fields = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', page.get_data(as_text=True)))
    response = confirm(client, client.post("/redeem", data={**fields, "account_no": ACCOUNT_CLEAN,
                                                             "code": world.cards[4].code}))
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    assert re.search(r'id="sts-token" data-token="[0-9 ]+"', html)
    account = _account(client, world)
    assert account["balance"] == "7.00"
    assert f'id="result-balance" data-balance="{account["balance"]}"' in html
    assert f'id="result-available" data-balance="{account["available_balance"]}"' in html


def test_after_deactivation_money_stays_on_the_balance_and_a_replay_keeps_its_token(client, world, now):
    from vouchers.vending.meters import deactivate_meter

    body = {"account_no": ACCOUNT_CLEAN, "amount": "30.00", "external_ref": "ALI-DEACT"}
    first = client.post("/api/v1/payments", json=body, headers=auth(world.keys["channel"], fresh_key()))
    assert first.status_code == 201 and first.get_json()["sts"]["token"]
    with world.sessions.begin() as s:
        deactivate_meter(s, PAN, reason="replaced by a read meter", now=now)
    again = client.post("/api/v1/payments", json=body, headers=auth(world.keys["channel"], fresh_key()))
    assert again.status_code == 200
    assert again.get_json()["sts"]["token"] == first.get_json()["sts"]["token"]  # the same request, its token
    assert again.get_json()["balance"] == "0.00"
    response = client.post("/api/v1/redemptions", json={"code": world.cards[5].code, "account_no": ACCOUNT_CLEAN},
                           headers=auth(world.keys["terminal"], fresh_key()))
    assert response.status_code == 201, response.get_json()
    redeemed = response.get_json()
    assert "sts" not in redeemed and redeemed["balance"] == "100.00"  # no token: the money stays prepaid
    _matches_the_account(redeemed, _account(client, world), 10000)
    paid = client.post("/api/v1/payments", json={**body, "external_ref": "ALI-DEACT-2"},
                       headers=auth(world.keys["channel"], fresh_key()))
    assert paid.status_code == 201 and "sts" not in paid.get_json() and paid.get_json()["balance"] == "130.00"
