"""Bad input gets a 4xx JSON error with a stable code, and nothing changes."""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select, update

from vouchers.storage.api_models import OutboxMessage, Redemption
from vouchers.storage.ledger_models import CustomerAccount, LedgerAccount, LedgerPosting, LedgerTransaction, Payment
from vouchers.storage.models import AuditEvent, Voucher
from tests.integration.redeem_api.world import ACCOUNT_ARREARS, ACCOUNT_CLEAN, auth, fresh_key

STABLE = re.compile(r"^[a-z][a-z0-9_]+$")
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def snapshot(world) -> tuple:
    with world.sessions.begin() as s:
        statuses = tuple(s.execute(select(Voucher.status, func.count()).group_by(Voucher.status)
                                   .order_by(Voucher.status)).all())
        counts = tuple(s.execute(select(func.count()).select_from(m)).scalar_one()
                       for m in (LedgerTransaction, LedgerPosting, Payment, Redemption, OutboxMessage, AuditEvent))
    return statuses, counts, world.balance(ACCOUNT_ARREARS)


def assert_error(response, status, code=None):
    assert response.status_code == status, (response.status_code, response.get_data()[:300])
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert STABLE.match(error["code"]) and isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code, error


def test_bad_redemption_requests(client, world):
    before = snapshot(world)
    key = world.keys["terminal"]
    code = world.cards[0].code
    url = "/api/v1/redemptions"

    def raw(data, content_type="application/json", **headers):
        return client.post(url, data=data, content_type=content_type, headers={**auth(key, fresh_key()), **headers})

    def body(doc):
        return client.post(url, json=doc, headers=auth(key, fresh_key()))

    assert_error(raw('{"code": "1234'), 400, "malformed_json")
    assert_error(raw("[1, 2]"), 400, "malformed_json")
    assert_error(raw('"just a string"'), 400, "malformed_json")
    assert_error(raw(b"\xff\xfe{}"), 400, "malformed_json")
    assert_error(raw('{"code": NaN, "account_no": "1"}'), 400, "malformed_json")
    dup = f'{{"code": "{code}", "account_no": "{ACCOUNT_ARREARS}", "account_no": "3100000002"}}'
    assert_error(raw(dup), 400, "malformed_json")
    assert_error(raw("[" * 5000 + "]" * 5000), 400)
    assert_error(raw(f"code={code}&account_no={ACCOUNT_ARREARS}", "application/x-www-form-urlencoded"), 415,
                 "unsupported_media_type")
    assert_error(raw(json.dumps({"code": code, "account_no": ACCOUNT_ARREARS}), "text/plain"), 415)
    assert_error(raw(json.dumps({"code": code, "account_no": ACCOUNT_ARREARS, "pad": "x" * 20_000})), 413,
                 "payload_too_large")
    assert_error(body({"account_no": ACCOUNT_ARREARS}), 400, "validation_error")
    assert_error(body({"code": int(code), "account_no": ACCOUNT_ARREARS}), 400, "validation_error")
    assert_error(body({"code": code, "account_no": 3100000001}), 400, "validation_error")
    assert_error(body({"code": code, "account_no": None}), 400, "validation_error")
    assert_error(body({"code": code}), 400, "validation_error")
    assert_error(body({"code": code, "account_no": "9999999999"}), 404, "unknown_account")
    assert_error(body({"code": code.translate(FULLWIDTH), "account_no": ACCOUNT_ARREARS}), 422,
                 "invalid_code_format")
    assert_error(body({"code": code.translate(ARABIC_INDIC), "account_no": ACCOUNT_ARREARS}), 422,
                 "invalid_code_format")
    assert_error(body({"code": code, "account_no": ACCOUNT_ARREARS.translate(FULLWIDTH)}), 400, "validation_error")
    assert_error(body({"code": "1' OR '1'='1", "account_no": ACCOUNT_ARREARS}), 422, "invalid_code_format")
    assert_error(body({"code": code + "' --", "account_no": ACCOUNT_ARREARS}), 422, "invalid_code_format")
    assert_error(body({"code": code, "account_no": "1' OR 1=1--"}), 400, "validation_error")
    assert_error(body({"code": code, "account_no": "3100000001; DROP TABLE vouchers"}), 400, "validation_error")
    assert_error(body({"code": code, "account_no": "3100000001\n"}), 400, "validation_error")
    assert_error(body({"code": "x" * 2000, "account_no": ACCOUNT_ARREARS}), 400, "validation_error")
    assert snapshot(world) == before


def test_bad_payment_requests(client, world):
    before = snapshot(world)
    key = world.keys["channel"]

    def pay(doc):
        return client.post("/api/v1/payments", json=doc, headers=auth(key, fresh_key()))

    good = {"account_no": ACCOUNT_ARREARS, "amount": "10.00", "external_ref": "r-1"}
    for amount in ("1e3", "-5.00", "10.001", "0.00", "0", "１０.00", "10,00", " ", "NaN", "Infinity", "1_000.00"):
        assert_error(pay({**good, "amount": amount}), 400, "invalid_amount")
    for amount in (10.5, 10, None, True, ["10.00"]):
        assert_error(pay({**good, "amount": amount}), 400, "validation_error")
    for ref in ("", "a,b", " lead", "x" * 65, "tab\there", 7):
        assert_error(pay({**good, "external_ref": ref}), 400, "validation_error")
    assert_error(pay({**good, "account_no": "0000000000"}), 404, "unknown_account")
    assert_error(pay({**good, "account_no": "' OR 1=1; --"}), 400, "validation_error")
    assert_error(pay({**good, "paid_at": "yesterday"}), 400, "validation_error")
    assert_error(pay({**good, "paid_at": "2026-11-26T10:00:00"}), 400, "validation_error")  # no offset
    assert_error(pay({**good, "paid_at": "2099-01-01T00:00:00+08:00"}), 400, "validation_error")
    assert snapshot(world) == before


@pytest.mark.parametrize("paid_at", ["0001-01-01T00:00:00+14:00", "0001-01-01T00:00:00+00:00",
                                     "0001-01-01T00:00:00-14:00", "1900-01-01T00:00:00+08:00",
                                     "2000-01-01T07:59:59.999999+08:00", "9999-12-31T23:59:59-14:00",
                                     "9999-12-31T23:59:59+14:00"])
def test_paid_at_outside_the_window_is_refused(client, world, paid_at):
    before = snapshot(world)
    response = client.post("/api/v1/payments", headers=auth(world.keys["channel"], fresh_key()),
                           json={"account_no": ACCOUNT_ARREARS, "amount": "10.00", "external_ref": "r-1",
                                 "paid_at": paid_at})
    assert_error(response, 400, "validation_error")
    assert snapshot(world) == before


def test_paid_at_from_2000_is_taken(client, world):
    response = client.post("/api/v1/payments", headers=auth(world.keys["channel"], fresh_key()),
                           json={"account_no": ACCOUNT_ARREARS, "amount": "10.00", "external_ref": "r-1",
                                 "paid_at": "2000-01-01T08:00:00+08:00"})
    assert response.status_code == 201, response.get_data()
    assert response.get_json()["paid_at"] == "2000-01-01T00:00:00+00:00"


def test_bad_lookups(client, world):
    before = snapshot(world)
    for path in ("/api/v1/accounts/1'%20OR%201=1", "/api/v1/accounts/%EF%BC%93%EF%BC%91", "/api/v1/accounts/x" * 3):
        assert_error(client.get(path, headers=auth(world.keys["admin"])), 404)
    assert_error(client.get("/api/v1/vouchers/123", headers=auth(world.keys["admin"])), 400, "invalid_serial")
    bad_check = world.cards[0].serial[:-1] + str((int(world.cards[0].serial[-1]) + 1) % 10)
    assert_error(client.get(f"/api/v1/vouchers/{bad_check}", headers=auth(world.keys["admin"])), 400,
                 "invalid_serial")
    assert_error(client.get("/api/v1/nowhere", headers=auth(world.keys["admin"])), 404, "not_found")
    assert_error(client.delete("/api/v1/redemptions", headers=auth(world.keys["terminal"])), 405,
                 "method_not_allowed")
    assert snapshot(world) == before


def test_options_is_405_like_any_other_method_a_route_does_not_take(app, client, world):
    methods: dict[str, set[str]] = {}  # a path may have a rule per method (/redeem)
    for rule in app.url_map.iter_rules():
        if rule.endpoint != "static":
            methods.setdefault(rule.rule, set()).update(rule.methods)
    assert any(path.startswith("/api/") for path in methods)
    for rule, expected in methods.items():
        path = re.sub(r"<[^>]+>", "1", rule)
        for headers in ({}, auth(world.keys["admin"])):
            response = client.options(path, headers=headers)
            if rule.startswith("/api/"):
                assert_error(response, 405, "method_not_allowed")
            else:
                assert response.status_code == 405, rule
            allowed = set(response.headers["Allow"].split(", "))
            assert allowed == expected and "OPTIONS" not in allowed, (rule, allowed)
    put = client.put("/api/v1/payments", headers=auth(world.keys["channel"]))
    assert_error(put, 405, "method_not_allowed")
    assert put.headers["Allow"] == "GET, HEAD, POST"  # the channel posts, finance lists


@pytest.mark.parametrize("route", ["/api/v1/activations"])
def test_bad_activation_requests(client, world, route):
    before = snapshot(world)
    key = world.keys["distributor"]

    def act(doc):
        return client.post(route, json=doc, headers=auth(key, fresh_key()))

    card = world.cards[-1]
    assert_error(act({"batch_id": "B01-999999"}), 404, "batch_not_found")
    assert_error(act({"batch_id": "nonsense"}), 400, "validation_error")
    assert_error(act({"batch_id": world.batch_id, "from_serial": card.serial}), 400, "validation_error")
    assert_error(act({"batch_id": world.batch_id, "from_serial": "1", "to_serial": card.serial}), 400,
                 "invalid_serial")
    assert_error(act({"batch_id": world.batch_id, "from_serial": world.cards[0].serial,
                      "to_serial": world.cards[0].serial}), 409, "activation_refused")  # already active
    assert snapshot(world) == before


# Every POST route with a JSON body, and the role that may call it.
JSON_ROUTES = [("/api/v1/redemptions", "terminal"), ("/api/v1/payments", "channel"),
               ("/api/v1/activations", "distributor"), ("/api/v1/readings", "headend"),
               ("/api/v1/orders/1/ack", "headend")]


@pytest.mark.parametrize("route, role", JSON_ROUTES)
def test_a_lone_surrogate_anywhere_in_the_body_is_malformed_json(client, world, route, role):
    before = snapshot(world)
    fields = '"account_no":"3100000001","amount":"1.00","external_ref":"R1","batch_id":"B01-000001"'
    for body in ('{%s,"note":"\\ud800"}' % fields, '{%s,"note":"x\\uDFFFy"}' % fields,
                 '{%s,"\\udabc":1}' % fields, '{%s,"list":[{"a":["\\ud83d"]}]}' % fields,
                 '{%s,"note":"\\ude00\\ud83d"}' % fields):  # a pair in the wrong order is two lone halves
        response = client.post(route, data=body, content_type="application/json",
                               headers=auth(world.keys[role], fresh_key()))
        assert_error(response, 400, "malformed_json")
    assert snapshot(world) == before


def test_an_escaped_surrogate_pair_is_an_ordinary_character(client, world):
    body = '{"account_no":"3100000001","amount":"1.00","external_ref":"R1","note":"\\ud83d\\ude00 \\\\ud800"}'
    response = client.post("/api/v1/payments", data=body, content_type="application/json",
                           headers=auth(world.keys["channel"], fresh_key()))
    assert response.status_code == 201, response.get_data()


@pytest.mark.parametrize("amount", ["100000000.01", "100000001", "999999999999999.99"])
def test_a_payment_over_the_cap_is_refused(client, world, amount):
    before = snapshot(world)
    response = client.post("/api/v1/payments", headers=auth(world.keys["channel"], fresh_key()),
                           json={"account_no": ACCOUNT_ARREARS, "amount": amount, "external_ref": "big-1"})
    assert_error(response, 400, "validation_error")
    assert "100000000.00" in response.get_json()["error"]["message"]
    assert snapshot(world) == before


def test_a_payment_of_the_cap_is_booked(client, world):
    response = client.post("/api/v1/payments", headers=auth(world.keys["channel"], fresh_key()),
                           json={"account_no": ACCOUNT_ARREARS, "amount": "100000000.00", "external_ref": "big-1"})
    assert response.status_code == 201, response.get_data()
    assert world.balance(ACCOUNT_ARREARS) == (10**10 - 3000, 0)


def _set_balance(world, code: str, balance: int) -> None:
    with world.sessions.begin() as s:
        s.execute(update(LedgerAccount).where(LedgerAccount.code == code).values(balance=balance))


INT64_MAX = 2**63 - 1


@pytest.mark.parametrize("near_the_limit", ["customer", "channel"])
def test_a_balance_overflow_is_409_and_nothing_is_booked(client, world, near_the_limit):
    """Defence in depth behind the cap: a balance moved past 64 bits is refused, not a 500."""
    key = world.keys["channel"]
    first = client.post("/api/v1/payments", json={"account_no": ACCOUNT_CLEAN, "amount": "1.00", "external_ref": "o-1"},
                        headers=auth(key, fresh_key()))
    assert first.status_code == 201  # opens the channel's clearing account
    with world.sessions.begin() as s:
        prepaid = s.execute(select(LedgerAccount.code).join(
            CustomerAccount, CustomerAccount.prepaid_account_id == LedgerAccount.id)
            .where(CustomerAccount.account_no == ACCOUNT_CLEAN)).scalar_one()
        clearing = s.execute(select(LedgerAccount.code).where(LedgerAccount.code.like("clearing:%"))).scalar_one()
    if near_the_limit == "customer":  # prepaid balances are credits: negative in the books
        _set_balance(world, prepaid, -INT64_MAX + 50)
    else:
        _set_balance(world, clearing, INT64_MAX - 50)
    before = snapshot(world)
    idempotency_key = fresh_key()
    body = {"account_no": ACCOUNT_CLEAN, "amount": "1000.00", "external_ref": "o-2"}
    response = client.post("/api/v1/payments", json=body, headers=auth(key, idempotency_key))
    assert_error(response, 409, "balance_out_of_range")
    assert snapshot(world) == before
    again = client.post("/api/v1/payments", json=body, headers=auth(key, idempotency_key))
    assert_error(again, 409, "balance_out_of_range")  # the key was released, not stored: the retry runs again


def test_a_redemption_that_would_overflow_a_balance_is_409_and_the_voucher_stays_active(client, world):
    with world.sessions.begin() as s:
        prepaid = s.execute(select(LedgerAccount.code).join(
            CustomerAccount, CustomerAccount.prepaid_account_id == LedgerAccount.id)
            .where(CustomerAccount.account_no == ACCOUNT_CLEAN)).scalar_one()
    _set_balance(world, prepaid, -INT64_MAX + 50)
    before = snapshot(world)
    idempotency_key = fresh_key()
    body = {"code": world.cards[0].code, "account_no": ACCOUNT_CLEAN}
    for _ in range(2):  # not stored for the key: a retry runs (and is refused) again
        response = client.post("/api/v1/redemptions", json=body, headers=auth(world.keys["terminal"], idempotency_key))
        assert_error(response, 409, "balance_out_of_range")
    assert snapshot(world) == before


def test_a_number_without_a_finite_value_is_refused_anywhere_in_any_body(client, world):
    """Red team: ``1e309`` (infinity to Python) in an ignored field was accepted while NaN was refused."""
    before = snapshot(world)
    card = world.cards[0]
    bodies = {
        "/api/v1/redemptions": ('{"code": "%s", "account_no": "%s", "extra": %%s}' % (card.code, ACCOUNT_ARREARS),
                                world.keys["terminal"]),
        "/api/v1/payments": ('{"account_no": "%s", "amount": "1.00", "external_ref": "INF-1", "x": [{"y": %%s}]}'
                             % ACCOUNT_CLEAN, world.keys["channel"]),
    }
    for url, (template, key) in bodies.items():
        for number in ("1e309", "-1e309", "1E400", "123456789e999", "NaN", "-Infinity"):
            response = client.post(url, data=template % number, content_type="application/json",
                                   headers=auth(key, fresh_key()))
            assert_error(response, 400, "malformed_json")
    assert snapshot(world) == before
    fine = client.post("/api/v1/redemptions", data=bodies["/api/v1/redemptions"][0] % "1.5e308",
                       content_type="application/json", headers=auth(world.keys["terminal"], fresh_key()))
    assert fine.status_code == 201, fine.get_data()  # a large but finite number in an ignored field is JSON
