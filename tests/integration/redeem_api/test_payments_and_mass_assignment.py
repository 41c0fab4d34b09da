"""Payments over HTTP, account reads, and mass assignment (extra fields are never applied)."""
from __future__ import annotations

from sqlalchemy import select

from vouchers.storage.api_models import Redemption
from vouchers.storage.ledger_models import Payment
from tests.integration.redeem_api.world import ACCOUNT_ARREARS, ACCOUNT_CLEAN, auth, fresh_key


def pay(client, world, doc, key=None):
    return client.post("/api/v1/payments", json=doc, headers=auth(world.keys["channel"], key or fresh_key()))


def test_payment_pays_arrears_first_and_reads_back(client, world):
    response = pay(client, world, {"account_no": ACCOUNT_ARREARS, "amount": "50", "external_ref": "ALI-1"})
    assert response.status_code == 201
    body = response.get_json()
    assert body["amount"] == "50.00" and body["applied_to_arrears"] == "30.00"
    assert body["credited_to_balance"] == "20.00" and body["balance"] == "20.00"
    assert body["channel"] == "alipay" and body["created"] is True
    account = client.get(f"/api/v1/accounts/{ACCOUNT_ARREARS}", headers=auth(world.keys["finance"])).get_json()
    assert account == {"account_no": ACCOUNT_ARREARS, "balance": "20.00", "arrears": "0.00", "currency": "CNY",
                       "holder_masked": "张*", "district_masked": "海*区"}


def test_an_external_ref_a_spreadsheet_would_run_as_a_formula_is_refused(client, world):
    doc = {"account_no": ACCOUNT_CLEAN, "amount": "1.00", "external_ref": '=HYPERLINK("http://x";"y")'}
    response = pay(client, world, doc)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "validation_error" and "formula" in error["message"]
    assert world.count(Payment) == 0


def test_same_external_ref_books_once(client, world):
    doc = {"account_no": ACCOUNT_CLEAN, "amount": "12.34", "external_ref": "ALI-2"}
    first = pay(client, world, doc)
    again = pay(client, world, doc)  # a new Idempotency-Key, same channel reference
    assert first.status_code == 201 and again.status_code == 200
    assert again.get_json()["created"] is False
    assert again.get_json()["payment_id"] == first.get_json()["payment_id"]
    assert world.balance(ACCOUNT_CLEAN) == (1234, 0)
    conflict = pay(client, world, {**doc, "amount": "99.00"})
    assert conflict.status_code == 409 and conflict.get_json()["error"]["code"] == "payment_conflict"
    assert world.balance(ACCOUNT_CLEAN) == (1234, 0)


def test_payment_idempotency_key_replay(client, world):
    doc = {"account_no": ACCOUNT_CLEAN, "amount": "1.00", "external_ref": "ALI-3"}
    first = pay(client, world, doc, key="p-1")
    again = pay(client, world, doc, key="p-1")
    assert again.get_data() == first.get_data() and again.headers["Idempotent-Replayed"] == "true"
    other = pay(client, world, {**doc, "amount": "2.00"}, key="p-1")
    assert other.status_code == 422 and other.get_json()["error"]["code"] == "idempotency_key_reused"


def test_redemption_ignores_extra_fields(client, world):
    card = world.cards[0]
    body = {"code": card.code, "account_no": ACCOUNT_ARREARS, "amount": "999999.00", "balance": "1000000.00",
            "face_value": "5000.00", "applied_to_arrears": "0.00", "credited_to_balance": "999999.00",
            "status": "active", "serial": world.cards[1].serial, "redemption_id": "rdm_mine", "currency": "USD",
            "channel": "web", "client_id": world.client_ids["terminal2"], "redeemed_at": "2020-01-01T00:00:00Z",
            "arrears": "0.00"}
    response = client.post("/api/v1/redemptions", json=body, headers=auth(world.keys["terminal"], fresh_key()))
    assert response.status_code == 201
    out = response.get_json()
    assert out["amount"] == "100.00" and out["currency"] == "CNY" and out["serial"] == card.serial
    assert out["applied_to_arrears"] == "30.00" and out["balance"] == "70.00"
    assert out["redemption_id"] != "rdm_mine"
    assert world.balance(ACCOUNT_ARREARS) == (7000, 0)
    with world.sessions.begin() as s:
        row = s.execute(select(Redemption)).scalar_one()
    assert row.amount == 10000 and row.channel == "terminal" and row.serial == card.serial
    assert row.redeemed_at.year == 2026


def test_payment_ignores_extra_fields(client, world):
    body = {"account_no": ACCOUNT_ARREARS, "amount": "10.00", "external_ref": "ALI-4", "balance": "5000.00",
            "applied_to_arrears": "0.00", "credited_to_balance": "10.00", "created": False,
            "payment_id": "1", "status": "reversed", "arrears": "0.00"}
    response = pay(client, world, body)
    assert response.status_code == 201
    out = response.get_json()
    assert out["applied_to_arrears"] == "10.00" and out["balance"] == "0.00" and out["currency"] == "CNY"
    assert world.balance(ACCOUNT_ARREARS) == (0, 2000)
    with world.sessions.begin() as s:
        payment = s.execute(select(Payment).where(Payment.external_ref == "ALI-4")).scalar_one()
    assert payment.status == "booked" and payment.amount == 1000


def test_activation_ignores_extra_fields(client, world):
    card = world.cards[-1]
    body = {"batch_id": world.batch_id, "from_serial": card.serial, "to_serial": card.serial,
            "count": 999, "face_value": "1.00", "commission_total": "100.00", "status": "redeemed",
            "receivable": "0.00"}
    response = client.post("/api/v1/activations", json=body, headers=auth(world.keys["distributor"], fresh_key()))
    assert response.status_code == 201
    out = response.get_json()
    assert out["count"] == 1 and out["face_value"] == "100.00" and out["commission_total"] == "0.00"
    voucher = client.get(f"/api/v1/vouchers/{card.serial}", headers=auth(world.keys["distributor"])).get_json()
    assert voucher["status"] == "active" and voucher["redeemable"] is True


def test_a_payment_in_another_currency_or_with_a_padded_amount_is_refused_and_books_nothing(client, world):
    """Red team: ``"currency": "USD"`` onto a CNY account was booked as CNY (the import refused the same line)."""
    doc = {"account_no": ACCOUNT_ARREARS, "amount": "10.00", "external_ref": "ALI-USD", "currency": "USD"}
    response = pay(client, world, doc)
    assert response.status_code == 422, response.get_data()
    error = response.get_json()["error"]
    assert error["code"] == "currency_mismatch" and "CNY" in error["message"]
    assert world.count(Payment) == 0 and world.balance(ACCOUNT_ARREARS) == (0, 3000)
    for bad in ("usd", "US", 840, ""):
        response = pay(client, world, {**doc, "currency": bad})
        assert response.status_code == 400 and response.get_json()["error"]["code"] == "validation_error", bad
    # and an amount with spaces around it (a machine sends the figure exactly)
    for amount in (" 10.00", "10.00 ", "\t10.00", "10.00\n"):
        response = pay(client, world, {"account_no": ACCOUNT_CLEAN, "amount": amount, "external_ref": "ALI-SP"})
        assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_amount", amount
    assert world.count(Payment) == 0
    ok = pay(client, world, {**doc, "currency": "CNY"})
    assert ok.status_code == 201 and ok.get_json()["currency"] == "CNY"
