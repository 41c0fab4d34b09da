"""Idempotency-Key: replay, 422 for another body, 409 while in flight, per-client scope."""
from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from sqlalchemy import create_engine, select, text

from redeem_api.state import EXTENSION
from vouchers.storage.api_models import ApiClient, IdempotencyRecord, Redemption
from vouchers.storage.ledger_models import LedgerTransaction
from tests.integration.redeem_api.world import ACCOUNT_ARREARS, ACCOUNT_CLEAN, auth
from vouchers.services import idempotency

URL = "/api/v1/redemptions"


def post(client, world, body, key, who="terminal"):
    return client.post(URL, json=body, headers=auth(world.keys[who], key))


def test_replay_returns_the_stored_status_and_body(client, world):
    body = {"code": world.cards[0].code, "account_no": ACCOUNT_ARREARS}
    first = post(client, world, body, "key-1")
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    again = post(client, world, {"account_no": ACCOUNT_ARREARS, "code": world.cards[0].code}, "key-1")
    assert again.status_code == 201
    assert again.get_data() == first.get_data()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert world.count(Redemption) == 1
    assert world.count(LedgerTransaction, LedgerTransaction.kind == "redemption") == 1
    assert world.balance(ACCOUNT_ARREARS) == (7000, 0)


def test_a_stored_refusal_is_replayed_too(client, world):
    body = {"code": world.cards[-1].code, "account_no": ACCOUNT_ARREARS}  # not activated
    first = post(client, world, body, "key-2")
    assert first.status_code == 422
    again = post(client, world, body, "key-2")
    assert again.status_code == 422 and again.get_data() == first.get_data()
    assert again.headers["Idempotent-Replayed"] == "true"


def test_same_key_with_another_body_is_422_and_changes_nothing(client, world):
    assert post(client, world, {"code": world.cards[0].code, "account_no": ACCOUNT_ARREARS}, "key-3").status_code == 201
    other = post(client, world, {"code": world.cards[1].code, "account_no": ACCOUNT_ARREARS}, "key-3")
    assert other.status_code == 422
    assert other.get_json()["error"]["code"] == "idempotency_key_reused"
    assert world.count(Redemption) == 1
    other_account = post(client, world, {"code": world.cards[0].code, "account_no": ACCOUNT_CLEAN}, "key-3")
    assert other_account.get_json()["error"]["code"] == "idempotency_key_reused"


def test_same_key_in_flight_is_409(client, world, now):
    """A concurrent request holds the key (reserved, not finished): the second gets 409 + Retry-After."""
    body = {"code": world.cards[0].code, "account_no": ACCOUNT_ARREARS}
    app = client.application
    st = app.extensions[EXTENSION]
    with world.sessions.begin() as s:
        client_pk = s.execute(select(ApiClient.id)
                              .where(ApiClient.client_id == world.client_ids["terminal"])).scalar_one()
        fp = idempotency.fingerprint(st.fingerprint_secret, "POST", "POST /api/v1/redemptions", body)
        reserved = idempotency.reserve(s, scope=f"client:{client_pk}", client_pk=client_pk, key="key-4",
                                       fingerprint=fp, now=now, stale_after=dt.timedelta(seconds=120))
    assert isinstance(reserved, idempotency.Reserved)
    response = post(client, world, body, "key-4")
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "idempotency_in_flight"
    assert response.headers["Retry-After"] == "1"
    assert world.count(Redemption) == 0
    # while in flight the key is held whatever the body: another body is 409 too (422 only once it has finished)
    other = post(client, world, {"code": world.cards[1].code, "account_no": ACCOUNT_ARREARS}, "key-4")
    assert other.status_code == 409
    assert other.get_json()["error"]["code"] == "idempotency_in_flight"


def test_an_abandoned_reservation_is_taken_over_when_stale(client, world, now, clock):
    body = {"code": world.cards[0].code, "account_no": ACCOUNT_ARREARS}
    st = client.application.extensions[EXTENSION]
    with world.sessions.begin() as s:
        client_pk = s.execute(select(ApiClient.id)
                              .where(ApiClient.client_id == world.client_ids["terminal"])).scalar_one()
        fp = idempotency.fingerprint(st.fingerprint_secret, "POST", "POST /api/v1/redemptions", body)
        idempotency.reserve(s, scope=f"client:{client_pk}", client_pk=client_pk, key="key-5", fingerprint=fp,
                            now=now, stale_after=dt.timedelta(seconds=120))
    assert post(client, world, body, "key-5").status_code == 409
    clock.advance(121)
    assert post(client, world, body, "key-5").status_code == 201


def test_a_released_reservation_never_takes_anothers_takeover_with_it(world, now):
    """A worker whose request ends without a storable answer releases its reservation - unless another
    worker took the key over as stale meanwhile: that one's reservation stays until it answers."""
    stale = dt.timedelta(seconds=120)
    later = now + dt.timedelta(seconds=121)
    args = dict(scope="client:1", client_pk=None, key="key-9", fingerprint="f" * 64, stale_after=stale)
    with world.sessions.begin() as s:
        first = idempotency.reserve(s, now=now, **args)
    with world.sessions.begin() as s:
        second = idempotency.reserve(s, now=later, **args)  # the first looks dead: taken over
    assert isinstance(first, idempotency.Reserved) and second == first
    with world.sessions.begin() as s:
        idempotency.release(s, first.record_id, now)  # the first worker gives up late
    assert world.count(IdempotencyRecord) == 1
    with world.sessions.begin() as s:
        idempotency.release(s, second.record_id, later)
    assert world.count(IdempotencyRecord) == 0


def test_keys_are_scoped_per_client(client, world):
    first = post(client, world, {"code": world.cards[0].code, "account_no": ACCOUNT_ARREARS}, "shared")
    second = post(client, world, {"code": world.cards[1].code, "account_no": ACCOUNT_ARREARS}, "shared",
                  who="terminal2")
    assert first.status_code == 201 and second.status_code == 201
    assert first.get_json()["serial"] != second.get_json()["serial"]


@pytest.mark.parametrize("header", [None, "", "a" * 256, "ключ", "has space"])
def test_key_is_required_and_well_formed(client, world, header):
    headers = auth(world.keys["terminal"])
    if header is not None:
        headers["Idempotency-Key"] = header
    response = client.post(URL, json={"code": world.cards[0].code, "account_no": ACCOUNT_ARREARS}, headers=headers)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] in {"idempotency_key_required", "invalid_idempotency_key"}
    assert world.count(IdempotencyRecord) == 0 and world.count(Redemption) == 0


def test_throttled_request_releases_its_key(client, world, clock):
    """A 429 is not stored: after the window the same key can succeed."""
    from vouchers.services.throttle import Limit, client_key

    st = client.application.extensions[EXTENSION]
    with world.sessions.begin() as s:
        for _ in range(st.config.throttle.client_failures):
            st.throttle.record_failure(s, [Limit(client_key(world.client_ids["terminal"]), 10**6)], clock.now)
    body = {"code": world.cards[0].code, "account_no": ACCOUNT_ARREARS}
    assert post(client, world, body, "key-6").status_code == 429
    clock.advance(st.config.throttle.window_seconds + 1)
    assert post(client, world, body, "key-6").status_code == 201


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_in_flight_409_with_a_real_concurrent_request(app, world, db_url):
    """PostgreSQL only: hold the voucher row lock from outside so the first request is stuck mid-transaction.

    The first request's reservation is not committed (it commits with the redemption): the key is held by
    its transaction's advisory lock, and a second request with the key gets 409 at once instead of waiting.
    """
    card = world.cards[5]
    body = {"code": card.code, "account_no": ACCOUNT_ARREARS}
    blocker = create_engine(db_url)
    conn = blocker.connect()
    trans = conn.begin()
    conn.execute(text("SELECT id FROM vouchers WHERE serial = :s FOR UPDATE"), {"s": card.serial})
    results = {}

    def first() -> None:
        results["first"] = app.test_client().post(URL, json=body, headers=auth(world.keys["terminal"], "held"))

    def first_is_stuck() -> bool:  # holds an advisory lock (the key) and waits for the voucher row
        with blocker.connect() as c:
            return c.execute(text(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND a.wait_event_type = 'Lock' "
                "AND a.datname = current_database()")).scalar_one() > 0

    thread = threading.Thread(target=first)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not first_is_stuck():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert world.count(IdempotencyRecord, IdempotencyRecord.key == "held") == 0  # nothing committed yet
        second = app.test_client().post(URL, json=body, headers=auth(world.keys["terminal"], "held"))
        assert second.status_code == 409
        assert second.get_json()["error"]["code"] == "idempotency_in_flight"
        assert second.headers["Retry-After"] == "1"
        # the same key from another client is another key: it is not held
        other = app.test_client().post(URL, json={"code": world.cards[6].code, "account_no": ACCOUNT_ARREARS},
                                       headers=auth(world.keys["terminal2"], "held"))
        assert other.status_code == 201
    finally:
        trans.rollback()
        conn.close()
        blocker.dispose()
        thread.join(30)
    assert results["first"].status_code == 201
    replay = app.test_client().post(URL, json=body, headers=auth(world.keys["terminal"], "held"))
    assert replay.status_code == 201 and replay.get_data() == results["first"].get_data()
    assert world.count(Redemption) == 2  # the held key once, and the other client's request
