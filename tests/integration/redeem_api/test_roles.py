"""Role x route matrix: every API route checks the caller's role; keys are hashed and revocable."""
from __future__ import annotations

import itertools

import pytest
from sqlalchemy import select

from vouchers.services.clients import revoke_client
from vouchers.storage.api_models import ApiClient
from vouchers.storage.metering_models import CostControlOrder
from vouchers.storage.models import Voucher
from tests.integration.redeem_api.world import ACCOUNT_ARREARS, ACCOUNT_CLEAN, ACCOUNT_METERED, auth, fresh_key

ROLES = ("terminal", "distributor", "channel", "finance", "admin", "headend", "service", "sms_gateway")
ALLOWED = {
    ("POST", "/api/v1/redemptions"): {"terminal"},
    ("POST", "/api/v1/payments"): {"channel"},
    ("GET", "/api/v1/accounts/<account_no>"): {"terminal", "channel", "finance", "service", "admin"},
    ("GET", "/api/v1/accounts"): {"finance", "service", "admin"},
    ("GET", "/api/v1/accounts/<account_no>/statement"): {"finance", "service", "admin"},
    ("GET", "/api/v1/payments"): {"finance", "service", "admin"},
    ("GET", "/api/v1/distributors/<distributor_id>/stock"): {"distributor", "finance", "admin"},
    ("GET", "/api/v1/distributors/<distributor_id>/statement"): {"distributor", "finance", "admin"},
    ("GET", "/api/v1/vouchers/<serial>"): {"distributor", "admin"},
    ("POST", "/api/v1/activations"): {"distributor", "admin"},
    ("GET", "/api/v1/keys"): {"terminal", "distributor", "channel", "finance", "admin"},
    ("POST", "/api/v1/readings"): {"headend", "admin"},
    ("GET", "/api/v1/orders"): {"headend", "admin"},
    ("POST", "/api/v1/orders/<order_id>/ack"): {"headend", "admin"},
    ("POST", "/api/v1/sms/inbound"): {"sms_gateway"},
}
_counter = itertools.count()


def call(client, world, route, key):
    """One well-formed request to ``route`` with ``key``; returns (response, expected success status)."""
    method, rule = route
    n = next(_counter)
    if method == "GET" and rule == "/api/v1/payments":
        return client.get(f"{rule}?account_no={ACCOUNT_ARREARS}", headers=auth(key)), 200
    if rule == "/api/v1/redemptions":
        return client.post(rule, json={"code": world.cards[n % world.active].code, "account_no": ACCOUNT_CLEAN},
                           headers=auth(key, fresh_key())), 201
    if rule == "/api/v1/payments":
        return client.post(rule, json={"account_no": ACCOUNT_ARREARS, "amount": "1.00", "external_ref": f"ref-{n}"},
                           headers=auth(key, fresh_key())), 201
    if rule == "/api/v1/accounts":
        return client.get(f"{rule}?q=3100", headers=auth(key)), 200
    if rule.endswith("/statement") or rule.endswith("/stock"):
        path = rule.replace("<account_no>", ACCOUNT_ARREARS).replace("<distributor_id>", "D001")
        return client.get(path, headers=auth(key)), 200
    if rule.startswith("/api/v1/accounts"):
        return client.get(f"/api/v1/accounts/{ACCOUNT_ARREARS}", headers=auth(key)), 200
    if rule.startswith("/api/v1/vouchers"):
        return client.get(f"/api/v1/vouchers/{world.cards[0].serial}", headers=auth(key)), 200
    if rule == "/api/v1/activations":
        card = world.cards[world.active + n % (len(world.cards) - world.active)]
        body = {"batch_id": world.batch_id, "from_serial": card.serial, "to_serial": card.serial,
                "distributor_id": "D001"}
        return client.post(rule, json=body, headers=auth(key, fresh_key())), 201
    if rule == "/api/v1/keys":
        return client.get(rule, headers=auth(key)), 200
    if rule == "/api/v1/readings":  # the opening reading again: a duplicate, nothing changes
        body = {"readings": [{"account_no": ACCOUNT_METERED, "meter": f"M{ACCOUNT_METERED}",
                              "reading_date": "2026-11-01", "reading": "100"}]}
        return client.post(rule, json=body, headers=auth(key, fresh_key())), 200
    if rule == "/api/v1/orders":
        return client.get(rule, headers=auth(key)), 200
    if rule == "/api/v1/orders/<order_id>/ack":  # acknowledging "done" again is idempotent
        return client.post(f"/api/v1/orders/{world.order_id}/ack", json={"result": "done"},
                           headers=auth(key, fresh_key())), 200
    if rule == "/api/v1/sms/inbound":
        from tests.integration.redeem_api.test_sms_inbound import signed

        body, headers = signed(key, {"message_id": f"m-{n}", "from": "13800000000", "text": "help"}, world.now)
        return client.post(rule, data=body, headers={**auth(key), **headers}), 200
    raise AssertionError(f"no request for {route}")


def test_every_api_route_is_in_the_matrix_and_role_checked(app):
    seen = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            seen.add((method, rule.rule))
            view = app.view_functions[rule.endpoint]
            assert set(getattr(view, "allowed_roles", ())) == ALLOWED[(method, rule.rule)], rule.rule
    assert seen == set(ALLOWED)


def _headend_data(world):
    """A metered account and one disconnect order for the head-end routes."""
    world.metered_account()
    with world.sessions.begin() as s:
        order = CostControlOrder(account_no=ACCOUNT_METERED, meter_no=f"M{ACCOUNT_METERED}", kind="disconnect",
                                 status="pending", reason="test", available_fen=-100, not_before=world.now,
                                 created_at=world.now)
        s.add(order)
        s.flush()
        world.order_id = order.id


# Read-only routes: one world checks them all (a world per route costs seconds of CI each).
READ_ONLY = sorted(route for route in ALLOWED if route[0] == "GET" and route[1] in {
    "/api/v1/accounts", "/api/v1/accounts/<account_no>/statement", "/api/v1/payments",
    "/api/v1/distributors/<distributor_id>/stock", "/api/v1/distributors/<distributor_id>/statement"})


def _check_roles(client, world, route):
    for role in ROLES:
        response, success = call(client, world, route, world.keys[role])
        if role in ALLOWED[route]:
            assert response.status_code == success, (role, route, response.get_json())
        else:
            assert response.status_code == 403, (role, route, response.get_json())
            assert response.get_json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize("route", [route for route in sorted(ALLOWED) if route not in READ_ONLY])
def test_role_matrix(client, world, route):
    _headend_data(world)
    _check_roles(client, world, route)


def test_role_matrix_of_the_lists(client, world):
    for route in READ_ONLY:
        _check_roles(client, world, route)


def test_missing_or_bad_key_is_401(client, world):
    bad_keys = [None, "", "garbage", "c_0123456789abcdef.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                "Basic dXNlcjpwYXNz"]
    for method, rule in sorted(ALLOWED):
        path = (rule.replace("<account_no>", ACCOUNT_ARREARS).replace("<serial>", world.cards[0].serial)
                .replace("<order_id>", "1").replace("<distributor_id>", "D001"))
        for key in bad_keys:
            headers = {"Idempotency-Key": "k"}
            if key is not None:
                headers["Authorization"] = key if key.startswith("Basic") else f"Bearer {key}"
            response = client.open(path, method=method, json={}, headers=headers)
            assert response.status_code == 401, (rule, key)
            assert response.get_json()["error"]["code"] == "unauthorized"
            assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_key_with_a_wrong_secret_for_a_real_client_is_401(client, world):
    client_id, _, secret = world.keys["finance"].partition(".")
    wrong = client_id + "." + ("A" if secret[0] != "A" else "B") + secret[1:]
    assert client.get("/api/v1/keys", headers=auth(wrong)).status_code == 401
    assert client.get("/api/v1/keys", headers=auth(world.keys["finance"])).status_code == 200


def test_revoked_key_is_refused(client, world, now):
    assert client.get("/api/v1/keys", headers=auth(world.keys["finance"])).status_code == 200
    with world.sessions.begin() as s:
        revoke_client(s, world.client_ids["finance"], now=now)
    response = client.get("/api/v1/keys", headers=auth(world.keys["finance"]))
    assert response.status_code == 401


def test_keys_are_stored_only_as_hashes(world):
    with world.sessions.begin() as s:
        rows = s.execute(select(ApiClient.client_id, ApiClient.key_hash)).all()
    for client_id, key_hash in rows:
        assert len(key_hash) == 32
        key = next(k for name, k in world.keys.items() if world.client_ids[name] == client_id)
        assert key.split(".", 1)[1].encode() not in bytes(key_hash)


def test_keys_route_returns_the_export_document(client, world):
    document = client.get("/api/v1/keys", headers=auth(world.keys["terminal"])).get_json()
    assert document == world.store.keyring().export()


def test_distributor_sees_only_its_own_stock(client, world):
    own = world.cards[0].serial
    inactive = world.cards[-1].serial
    assert client.get(f"/api/v1/vouchers/{own}", headers=auth(world.keys["distributor"])).status_code == 200
    for serial in (own, inactive):
        response = client.get(f"/api/v1/vouchers/{serial}", headers=auth(world.keys["distributor2"]))
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "voucher_not_found"
    body = client.get(f"/api/v1/vouchers/{inactive}", headers=auth(world.keys["admin"])).get_json()
    assert body["status"] == "inactive" and "code" not in body and "token" not in body
    assert world.cards[-1].code not in str(body)


def test_distributor_activates_only_for_itself(client, world):
    card = world.cards[-1]
    body = {"batch_id": world.batch_id, "from_serial": card.serial, "to_serial": card.serial}
    refused = client.post("/api/v1/activations", json={**body, "distributor_id": "D002"},
                          headers=auth(world.keys["distributor"], fresh_key()))
    assert refused.status_code == 403
    ok = client.post("/api/v1/activations", json=body, headers=auth(world.keys["distributor"], fresh_key()))
    assert ok.status_code == 201 and ok.get_json()["distributor_id"] == "D001"
    again = client.post("/api/v1/activations", json=body, headers=auth(world.keys["distributor"], fresh_key()))
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "activation_refused"


def test_a_distributor_sees_and_activates_only_stock_consigned_to_it(client, world):
    consigned = world.cards[-1]  # the world ships its whole batch to D001; D002 gets nothing
    seen = client.get(f"/api/v1/vouchers/{consigned.serial}", headers=auth(world.keys["distributor"]))
    assert seen.status_code == 200
    assert seen.get_json()["consigned_to"] == "D001" and seen.get_json()["status"] == "inactive"
    unshipped_batch, unshipped = world.new_batch(3, consign=False)
    attempts = [("distributor2", world.batch_id, consigned), ("distributor", unshipped_batch, unshipped[0]),
                ("distributor2", unshipped_batch, unshipped[0])]
    for name, batch_id, card in attempts:
        body = {"batch_id": batch_id, "from_serial": card.serial, "to_serial": card.serial}
        refused = client.post("/api/v1/activations", json=body, headers=auth(world.keys[name], fresh_key()))
        assert refused.status_code == 409
        error = refused.get_json()["error"]
        assert error["code"] == "activation_refused" and "not all in your stock" in error["message"]
        assert "D001" not in error["message"] and "inactive" not in error["message"]  # nothing about others' stock
    assert world.count(Voucher, Voucher.status == "active") == world.active  # nothing activated
    admin = client.post("/api/v1/activations", headers=auth(world.keys["admin"], fresh_key()),
                        json={"batch_id": unshipped_batch, "distributor_id": "D002"})
    assert admin.status_code == 201 and admin.get_json()["count"] == 3  # an operator sells unshipped stock
    now_theirs = client.get(f"/api/v1/vouchers/{unshipped[0].serial}", headers=auth(world.keys["distributor2"]))
    assert now_theirs.get_json()["consigned_to"] == "D002"


def test_admin_activation_needs_a_distributor(client, world):
    card = world.cards[-1]
    body = {"batch_id": world.batch_id, "from_serial": card.serial, "to_serial": card.serial}
    response = client.post("/api/v1/activations", json=body, headers=auth(world.keys["admin"], fresh_key()))
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "validation_error"


def test_channel_posts_only_for_its_own_channel(client, world):
    body = {"account_no": ACCOUNT_ARREARS, "amount": "5.00", "external_ref": "x-1", "channel": "wechat_pay"}
    response = client.post("/api/v1/payments", json=body, headers=auth(world.keys["channel"], fresh_key()))
    assert response.status_code == 403
    assert world.balance(ACCOUNT_ARREARS) == (0, 3000)
    body["channel"] = "alipay"
    response = client.post("/api/v1/payments", json=body, headers=auth(world.keys["channel"], fresh_key()))
    assert response.status_code == 201 and response.get_json()["channel"] == "alipay"
