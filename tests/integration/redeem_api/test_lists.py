"""Lists and statements over the API: finance and customer service search accounts, read statements and
list payments; a distributor's key sees only its own stock and statement (no IDOR)."""
from __future__ import annotations

from tests.integration.redeem_api.world import (
    ACCOUNT_ARREARS,
    ACCOUNT_CLEAN,
    DISTRIBUTOR,
    OTHER_DISTRIBUTOR,
    auth,
    fresh_key,
)
from vouchers.books.customers import create_customer


def _get(client, world, who: str, path: str):
    response = client.get(path, headers=auth(world.keys[who]))
    assert response.mimetype == "application/json"
    return response


def test_service_searches_accounts_and_reads_a_statement_that_closes(client, world, now):
    with world.sessions.begin() as s:
        create_customer(s, "3100000099", "王小明", meter_no="MX-9", phone="13900001111", now=now)
    found = _get(client, world, "service", "/api/v1/accounts?name=小明").get_json()
    assert [a["account_no"] for a in found["accounts"]] == ["3100000099"]
    assert found["accounts"][0]["phone_masked"] == "139****1111"
    assert _get(client, world, "finance", "/api/v1/accounts?phone=139-0000-1111").get_json()["total"] == 1
    assert _get(client, world, "service", "/api/v1/accounts?meter=MX-9").get_json()["total"] == 1
    page = _get(client, world, "service", "/api/v1/accounts?q=31000000&limit=2&offset=1").get_json()
    assert (page["total"], len(page["accounts"]), page["offset"]) == (3, 2, 1)
    for bad in ("/api/v1/accounts", "/api/v1/accounts?limit=0&q=1", "/api/v1/accounts?q=1&limit=x",
                "/api/v1/accounts?q=1&q=2"):
        response = _get(client, world, "service", bad)
        assert response.status_code == 400 and response.get_json()["error"]["code"] == "validation_error", bad

    # money in through the API, then the statement of the day
    paid = client.post("/api/v1/payments", json={"account_no": ACCOUNT_ARREARS, "amount": "12.00",
                                                 "external_ref": "stmt-1"},
                       headers=auth(world.keys["channel"], fresh_key()))
    assert paid.status_code == 201
    redeemed = client.post("/api/v1/redemptions", json={"code": world.cards[0].code, "account_no": ACCOUNT_ARREARS},
                           headers=auth(world.keys["terminal"], fresh_key()))
    assert redeemed.status_code == 201
    day = now.date().isoformat()
    s = _get(client, world, "service", f"/api/v1/accounts/{ACCOUNT_ARREARS}/statement?from={day}&to={day}").get_json()
    assert s["opening"]["position"] == "0.00"  # the account was opened during the day, with 30.00 arrears
    assert [x["kind"] for x in s["lines"]][-2:] == ["payment", "redemption"]
    balance, arrears = world.balance(ACCOUNT_ARREARS)
    assert s["closes"] and s["closing"]["position"] == s["computed_closing"]
    assert (s["closing"]["balance"], s["closing"]["arrears"]) == (f"{balance / 100:.2f}", f"{arrears / 100:.2f}")
    assert s["lines"][0]["at"].endswith("+08:00")
    missing = _get(client, world, "service", "/api/v1/accounts/3199999999/statement")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "unknown_account"
    backwards = _get(client, world, "finance", f"/api/v1/accounts/{ACCOUNT_CLEAN}/statement?from=2026-11-30&to=2026-11-01")
    assert backwards.status_code == 400

    listed = _get(client, world, "finance", f"/api/v1/payments?channel=alipay&ref=stmt-1&from={day}").get_json()
    assert [(p["account_no"], p["amount"], p["channel"]) for p in listed["payments"]] == \
        [(ACCOUNT_ARREARS, "12.00", "alipay")]
    vouchers = _get(client, world, "service", f"/api/v1/payments?channel=voucher&account_no={ACCOUNT_ARREARS}")
    assert vouchers.get_json()["total"] == 1
    assert _get(client, world, "finance", "/api/v1/payments?channel=nope").status_code == 400
    assert _get(client, world, "finance", "/api/v1/payments?from=2026-13-01").status_code == 400


def test_a_distributor_sees_only_its_own_stock_and_statement(client, world):
    own = _get(client, world, "distributor", f"/api/v1/distributors/{DISTRIBUTOR}/stock")
    assert own.status_code == 200
    stock = own.get_json()
    line = stock["batches"][0]
    assert (line["batch_id"], line["sold"], line["in_stock"]) == (world.batch_id, world.active,
                                                                  len(world.cards) - world.active)
    assert stock["consignments"][0]["count"] == len(world.cards)
    statement = _get(client, world, "distributor", f"/api/v1/distributors/{DISTRIBUTOR}/statement").get_json()
    assert statement["sold_count"] == world.active and statement["closes"]
    for path in (f"/api/v1/distributors/{OTHER_DISTRIBUTOR}/stock", f"/api/v1/distributors/{OTHER_DISTRIBUTOR}/statement",
                 "/api/v1/distributors/NOPE/stock"):
        response = _get(client, world, "distributor", path)  # D001's key asking for D002's: as if it did not exist
        assert response.status_code == 404, path
        assert response.get_json()["error"]["code"] == "unknown_distributor"
    assert _get(client, world, "distributor2", f"/api/v1/distributors/{DISTRIBUTOR}/stock").status_code == 404
    # finance sees every distributor
    assert _get(client, world, "finance", f"/api/v1/distributors/{DISTRIBUTOR}/stock").get_json()["in_stock"] == \
        len(world.cards) - world.active
    assert _get(client, world, "finance", "/api/v1/distributors/NOPE/statement").status_code == 404
    assert _get(client, world, "service", f"/api/v1/distributors/{DISTRIBUTOR}/stock").status_code == 403
