"""Every edge that takes money runs the one service: the API's three routes (SMS top-up included) and the
CLI's two commands."""
from __future__ import annotations

import json

import pytest

from tests.inprocess_cli import in_process_cli
from tests.integration.redeem_api.world import ACCOUNT_CLEAN, PASSPHRASE, WEB_PASSPHRASE, Clock, auth, fresh_key
from tests.integration.services.conftest import decode, energy_sold, outbox
from tests.integration.vending.conftest import PAN
from vouchers.services import money_in


@pytest.fixture
def client(world, now):
    app = world.app(Clock(now))
    yield app.test_client()
    from redeem_api.state import EXTENSION

    app.extensions[EXTENSION].engine.dispose()


@pytest.fixture
def cli(world, now, monkeypatch, capsys):
    monkeypatch.setenv("VOUCHER_KEY_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("VOUCHER_WEB_PASSPHRASE", WEB_PASSPHRASE)
    monkeypatch.delenv("VOUCHER_TARIFF_DIR", raising=False)
    yield from in_process_cli(world.db_url, world.home, monkeypatch, capsys, now=now)


def test_a_counter_payment_from_the_cli_onto_a_keypad_meter_vends_like_the_api(world, client, cli):
    """``payments post`` used to book the money and vend nothing: the customer had no token to type in."""
    api = client.post("/api/v1/payments", json={"account_no": ACCOUNT_CLEAN, "amount": "50.00",
                                                "external_ref": "ALI-EDGE"},
                      headers=auth(world.keys["channel"], fresh_key()))
    assert api.status_code == 201, api.get_json()
    code, out, err = cli("payments", "post", "--channel", "counter_cash", "--account-no", ACCOUNT_CLEAN,
                         "--amount", "50.00", "--ref", "CTR-EDGE", "--json")
    assert code == 0, err
    counter = json.loads(out)
    api_sts, cli_sts = api.get_json()["sts"], counter["sts"]
    assert set(cli_sts) == set(api_sts) and cli_sts["meter"] == PAN
    assert decode(world, cli_sts["token"]).kind == "electricity_credit"
    assert decode(world, cli_sts["token"]).tid > decode(world, api_sts["token"]).tid
    assert counter["balance"] == api.get_json()["balance"] == "0.00"  # after the energy sale
    assert energy_sold(world) == 10_000 and world.balance(ACCOUNT_CLEAN) == (0, 0)
    assert [m["sts"]["token"] for m in outbox(world, "sms.sts_token")] == [api_sts["token"], cli_sts["token"]]

    code, out, err = cli("payments", "post", "--channel", "counter_cash", "--account-no", ACCOUNT_CLEAN,
                         "--amount", "50.00", "--ref", "CTR-EDGE", "--json")
    again = json.loads(out)
    assert code == 0 and again["replayed"] is True and again["sts"]["token"] == cli_sts["token"]
    assert energy_sold(world) == 10_000  # a replay sells nothing twice

    code, out, err = cli("payments", "post", "--channel", "counter_cash", "--account-no", ACCOUNT_CLEAN,
                         "--amount", "20.00", "--ref", "CTR-HUMAN")
    assert code == 0, err
    assert "STS token for meter" in out and cli_sts["token"] not in out

    # another currency than the account's: refused like the API (one line, nothing booked)
    code, out, err = cli("payments", "post", "--channel", "counter_cash", "--account-no", ACCOUNT_CLEAN,
                         "--amount", "10.00", "--ref", "CTR-USD", "--currency", "USD")
    assert code == 1 and "is in CNY, not USD" in err and len(err.strip().splitlines()) == 1
    assert energy_sold(world) == 12_000 and world.balance(ACCOUNT_CLEAN) == (0, 0)


def test_the_four_money_edges_run_the_one_money_in(world, client, cli, monkeypatch):
    seen: list[tuple[str, str]] = []
    real = money_in.money_in

    def spy(session, account_no, book, **kwargs):  # type: ignore[no-untyped-def]
        seen.append((kwargs["vend_source"], account_no))
        return real(session, account_no, book, **kwargs)

    monkeypatch.setattr(money_in, "money_in", spy)
    redeemed = client.post("/api/v1/redemptions", json={"code": world.cards[0].code, "account_no": ACCOUNT_CLEAN},
                           headers=auth(world.keys["terminal"], fresh_key()))
    assert redeemed.status_code == 201, redeemed.get_json()
    paid = client.post("/api/v1/payments", json={"account_no": ACCOUNT_CLEAN, "amount": "10.00",
                                                 "external_ref": "ALI-SPY"},
                       headers=auth(world.keys["channel"], fresh_key()))
    assert paid.status_code == 201, paid.get_json()
    code, _, err = cli("payments", "post", "--channel", "counter_cash", "--account-no", ACCOUNT_CLEAN,
                       "--amount", "10.00", "--ref", "CTR-SPY")
    assert code == 0, err
    code, _, err = cli("sts", "vend", "--account", ACCOUNT_CLEAN, "--amount", "10.00", "--ref", "STS-SPY")
    assert code == 0, err
    from tests.integration.redeem_api.test_sms_inbound import send

    texted = send(client, world, f"CZ {ACCOUNT_CLEAN} {world.cards[1].code}", message_id="sms-spy")  # 短信缴费
    assert texted.get_json()["outcome"] == "redeemed", texted.get_json()
    assert seen == [("redemption", ACCOUNT_CLEAN)] + [("payment", ACCOUNT_CLEAN)] * 3 + [("redemption", ACCOUNT_CLEAN)]
    assert all(sts["token"] for sts in (redeemed.get_json()["sts"], paid.get_json()["sts"]))
