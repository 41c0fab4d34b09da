"""docs/api.md "Idempotency-Key", sentence by sentence, with real concurrent requests.

1. While a request is in flight, a same-key request gets 409 whatever its body
   (PostgreSQL; SQLite runs one writer at a time: the second waits, then gets 3.).
2. Once the first has committed: another body -> 422; 3. the same body -> the stored status and body.
4. A crashed request leaves no reservation: the key can be used again at once.
(Sentences 2 and 3 on both databases: test_idempotency.py; here after a real concurrent first request.)
"""
from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import create_engine, text

from vouchers.storage.api_models import IdempotencyRecord, Redemption
from tests.integration.redeem_api.world import ACCOUNT_ARREARS, ACCOUNT_CLEAN, auth

URL = "/api/v1/redemptions"
pg_only = [pytest.mark.postgres, pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)]


class StuckRequest:
    """A redemption held mid-transaction: an outside transaction locks its voucher row, so the request has
    reserved its key (advisory lock, uncommitted record) and waits for the row."""

    def __init__(self, app, world, db_url, card, key: str, account: str = ACCOUNT_ARREARS) -> None:
        self.body = {"code": card.code, "account_no": account}
        self.engine = create_engine(db_url)
        self.conn = self.engine.connect()
        self.trans = self.conn.begin()
        self.conn.execute(text("SELECT id FROM vouchers WHERE serial = :s FOR UPDATE"), {"s": card.serial})
        self.result = {}
        self.thread = threading.Thread(target=lambda: self.result.setdefault(
            "response", app.test_client().post(URL, json=self.body, headers=auth(world.keys["terminal"], key))))
        self.thread.start()
        deadline = time.monotonic() + 10
        while self.backend() is None:
            assert time.monotonic() < deadline, "the request never got stuck"
            time.sleep(0.05)

    def backend(self) -> int | None:
        """The stuck request's server process: holds an advisory lock and waits for a row lock."""
        with self.engine.connect() as c:
            return c.execute(text(
                "SELECT a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND a.wait_event_type = 'Lock' "
                "AND a.datname = current_database() LIMIT 1")).scalar_one_or_none()

    def finish(self):
        self.trans.rollback()
        self.conn.close()
        self.thread.join(30)
        self.engine.dispose()
        return self.result["response"]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@pytest.mark.postgres
def test_in_flight_is_409_whatever_the_body_then_422_or_replay(app, world, db_url):
    stuck = StuckRequest(app, world, db_url, world.cards[5], "rule-1")
    try:
        client = app.test_client()
        headers = auth(world.keys["terminal"], "rule-1")
        same = client.post(URL, json=stuck.body, headers=headers)
        other = client.post(URL, json={"code": world.cards[6].code, "account_no": ACCOUNT_CLEAN}, headers=headers)
        for response in (same, other):  # 1. in flight: 409 whatever the body, at once
            assert response.status_code == 409, response.get_data()
            assert response.get_json()["error"]["code"] == "idempotency_in_flight"
            assert response.headers["Retry-After"] == "1"
    finally:
        first = stuck.finish()
    assert first.status_code == 201
    client = app.test_client()
    headers = auth(world.keys["terminal"], "rule-1")
    other = client.post(URL, json={"code": world.cards[6].code, "account_no": ACCOUNT_CLEAN}, headers=headers)
    assert other.status_code == 422  # 2. committed: another body
    assert other.get_json()["error"]["code"] == "idempotency_key_reused"
    replay = client.post(URL, json=stuck.body, headers=headers)  # 3. committed: the same body
    assert replay.status_code == 201 and replay.get_data() == first.get_data()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert world.count(Redemption) == 1


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@pytest.mark.postgres
def test_a_crashed_request_leaves_no_reservation(app, world, db_url):
    """4. The worker's connection dies mid-request (as when the process is killed): nothing was committed,
    so the same key is free at once - no 409 until a stale reservation times out."""
    stuck = StuckRequest(app, world, db_url, world.cards[5], "rule-crash")
    pid = stuck.backend()
    with stuck.engine.connect() as c:
        assert c.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar_one()
    crashed = stuck.finish()
    assert crashed.status_code == 503  # the client saw no answer it could rely on
    assert world.count(IdempotencyRecord, IdempotencyRecord.key == "rule-crash") == 0
    again = app.test_client().post(URL, json=stuck.body, headers=auth(world.keys["terminal"], "rule-crash"))
    assert again.status_code == 201, again.get_data()
    assert "Idempotent-Replayed" not in again.headers
    assert world.count(Redemption) == 1


def test_same_key_at_the_same_time_redeems_once(app, world):
    """Both databases: two simultaneous requests with one key never both redeem; on SQLite (one writer)
    the second waits and gets the first's answer replayed, on PostgreSQL it may get 409 instead."""
    body = {"code": world.cards[0].code, "account_no": ACCOUNT_ARREARS}
    barrier = threading.Barrier(2)
    responses = []

    def send() -> None:
        client = app.test_client()
        barrier.wait()
        responses.append(client.post(URL, json=body, headers=auth(world.keys["terminal"], "rule-twice")))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    fresh = [r for r in responses if r.status_code == 201 and "Idempotent-Replayed" not in r.headers]
    others = [r for r in responses if r not in fresh]
    assert len(fresh) == 1 and len(others) == 1
    if world.engine.dialect.name == "sqlite":
        assert others[0].status_code == 201 and others[0].headers["Idempotent-Replayed"] == "true"
        assert others[0].get_data() == fresh[0].get_data()
    else:
        assert others[0].status_code == 409 or others[0].get_data() == fresh[0].get_data()
    assert world.count(Redemption) == 1
