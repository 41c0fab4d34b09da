"""What the redemption hot path no longer spends CPU on, and that nothing was lost with it."""
from __future__ import annotations

import pytest
from sqlalchemy import event, exc, insert

from redeem_api.state import EXTENSION
from vouchers.storage.api_models import OutboxMessage, Redemption
from vouchers.storage.commit_hooks import insert_at_commit
from tests.integration.redeem_api.world import ACCOUNT_CLEAN, auth, fresh_key

URL = "/api/v1/redemptions"


def _statements(app) -> list[str]:
    seen: list[str] = []
    event.listen(app.extensions[EXTENSION].engine, "before_cursor_execute",
                 lambda conn, cursor, statement, *rest: seen.append(" ".join(statement.split())))
    return seen


def test_api_calls_do_not_open_the_cookie_session(app, client, world, monkeypatch):
    """The signed session cookie is the web page's (CSRF): /api/ requests skip its HMAC set-up."""
    interface = app.session_interface
    calls = []
    real = interface.get_signing_serializer
    monkeypatch.setattr(interface, "get_signing_serializer", lambda a: calls.append(1) or real(a))
    response = client.post(URL, json={"code": world.cards[0].code, "account_no": ACCOUNT_CLEAN},
                           headers=auth(world.keys["terminal"], fresh_key()))
    assert response.status_code == 201
    assert calls == [] and "Set-Cookie" not in response.headers
    page = client.get("/redeem")
    assert page.status_code == 200 and calls  # the page still gets its session (CSRF token)
    assert "voucher_session=" in page.headers.get("Set-Cookie", "")


@pytest.mark.parametrize("mode", [None, "postpaid"])
def test_no_payment_mode_query_of_its_own(app, client, world, mode):
    """kwh_document's gate (prepaid or not) is read with the account: no extra statement per redemption."""
    account = ACCOUNT_CLEAN if mode is None else world.metered_account("3100000009", mode=mode)
    seen = _statements(app)
    response = client.post(URL, json={"code": world.cards[0].code, "account_no": account},
                           headers=auth(world.keys["terminal"], fresh_key()))
    assert response.status_code == 201
    assert "available_kwh" not in response.get_json()
    assert not [s for s in seen if s.startswith("SELECT metering_accounts.payment_mode")], seen


def test_prepaid_accounts_still_get_their_kwh_fields(app, client, world):
    account = world.metered_account(prepaid=5000)
    response = client.post(URL, json={"code": world.cards[0].code, "account_no": account},
                           headers=auth(world.keys["terminal"], fresh_key()))
    assert response.status_code == 201
    assert {"available_kwh", "credited_kwh"} <= set(response.get_json())


def test_redemption_and_outbox_rows_go_with_the_commit(app, client, world):
    """PostgreSQL: the two INSERTs nobody reads back are sent at commit, after the stored response
    (in the commit's single round trip); SQLite writes them at once. Either way both rows exist."""
    seen = _statements(app)
    response = client.post(URL, json={"code": world.cards[0].code, "account_no": ACCOUNT_CLEAN},
                           headers=auth(world.keys["terminal"], fresh_key()))
    assert response.status_code == 201

    def at(prefix: str) -> int:
        return next(i for i, s in enumerate(seen) if s.startswith(prefix))

    stored = at("UPDATE idempotency_records")
    rows = at("INSERT INTO redemptions"), at("INSERT INTO outbox_messages")
    if world.engine.dialect.name == "postgresql":
        assert all(i > stored for i in rows) and at("INSERT INTO audit_events") > max(rows)
    else:
        assert all(i < stored for i in rows)
    assert not [s for s in seen if s.startswith(("INSERT INTO redemptions", "INSERT INTO outbox_messages"))
                and "RETURNING" in s]
    assert world.count(Redemption) == 1 and world.count(OutboxMessage) == 1


def test_a_row_written_at_commit_that_fails_rolls_back_the_transaction(world, now):
    good = {"kind": "test", "account_no": ACCOUNT_CLEAN, "payload": "{}", "created_at": now, "attempts": 0}
    with pytest.raises(exc.IntegrityError) as raised:
        with world.sessions.begin() as s:
            s.execute(insert(OutboxMessage), good)
            insert_at_commit(s, insert(OutboxMessage).inline(), {**good, "kind": None})  # NOT NULL
    if world.engine.dialect.name == "postgresql":
        assert getattr(raised.value.orig, "sqlstate", None) == "23502"
    assert world.count(OutboxMessage) == 0
