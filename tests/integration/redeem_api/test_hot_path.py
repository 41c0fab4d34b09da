"""The redemption hot path's shape: one transaction per redemption, an intact audit chain under
concurrency, and commit-time work sent in one round trip without losing its errors."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import event, exc, func, select, text

from redeem_api.state import EXTENSION
from vouchers.storage.api_models import IdempotencyRecord, Redemption
from vouchers.storage.audit import record, verify_chain
from vouchers.storage.commit_hooks import AUDIT_CHAIN, at_commit
from vouchers.storage.models import AuditEvent
from tests.integration.redeem_api.world import ACCOUNT_ARREARS, ACCOUNT_CLEAN, auth, fresh_key

URL = "/api/v1/redemptions"


def _commits(app):
    engine = app.extensions[EXTENSION].engine
    seen: list[str] = []
    event.listen(engine, "commit", lambda conn: seen.append("commit"))
    event.listen(engine, "rollback", lambda conn: seen.append("rollback"))
    event.listen(engine, "rollback_savepoint", lambda conn, name, context: seen.append("rollback_savepoint"))
    return seen


def test_a_redemption_is_one_transaction(app, client, world):
    """Key check, key reservation, throttle check, books, redemption row, stored response: one COMMIT."""
    seen = _commits(app)
    response = client.post(URL, json={"code": world.cards[0].code, "account_no": ACCOUNT_ARREARS},
                           headers=auth(world.keys["terminal"], fresh_key()))
    assert response.status_code == 201
    assert seen.count("commit") == 1
    assert world.count(Redemption) == 1 and world.count(IdempotencyRecord, IdempotencyRecord.state == "done") == 1


def test_a_refusal_rolls_back_and_stores_its_answer_once(app, client, world):
    """The attempt's work is rolled back to a savepoint; its count, alert and replayable refusal commit in the
    same transaction (no other attempt can slip in between the failure and its count)."""
    seen = _commits(app)
    body = {"code": world.cards[-1].code, "account_no": ACCOUNT_CLEAN}  # not activated: 422 + alert
    key = fresh_key()
    first = client.post(URL, json=body, headers=auth(world.keys["terminal"], key))
    assert first.status_code == 422
    assert seen.count("commit") == 1 and seen.count("rollback_savepoint") == 1 and seen.count("rollback") == 0
    assert world.count(IdempotencyRecord, IdempotencyRecord.state == "done") == 1
    again = client.post(URL, json=body, headers=auth(world.keys["terminal"], key))
    assert again.status_code == 422 and again.get_data() == first.get_data()
    assert again.headers["Idempotent-Replayed"] == "true"


def test_an_error_mid_redemption_leaves_no_reservation(app, client, world, monkeypatch):
    """Nothing is committed before the end: after a 500 the same key works at once (no stale wait)."""
    import redeem_api.routes.redemptions as route

    body = {"code": world.cards[1].code, "account_no": ACCOUNT_CLEAN}
    real = route.redeem

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(route, "redeem", broken)
    assert client.post(URL, json=body, headers=auth(world.keys["terminal"], "k-crash")).status_code == 500
    assert world.count(IdempotencyRecord) == 0
    monkeypatch.setattr(route, "redeem", real)
    assert client.post(URL, json=body, headers=auth(world.keys["terminal"], "k-crash")).status_code == 201


def test_concurrent_redemptions_keep_one_audit_chain(app, world):
    """Eight terminals at once: eight events, every one linked to its predecessor."""
    results: list[int] = []
    barrier = threading.Barrier(8)

    def attempt(i: int) -> None:
        c = app.test_client()
        barrier.wait()
        r = c.post(URL, json={"code": world.cards[i].code, "account_no": ACCOUNT_CLEAN if i % 2 else ACCOUNT_ARREARS},
                   headers=auth(world.keys["terminal"], f"chain-{i}"))
        results.append(r.status_code)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [201] * 8
    with world.sessions.begin() as s:
        assert list(verify_chain(s)) == []
        assert s.execute(select(func.count()).select_from(AuditEvent)
                         .where(AuditEvent.action == "voucher.redeem")).scalar_one() == 8


def test_several_events_of_one_commit_are_chained_in_order(world, now):
    with world.sessions.begin() as s:
        for i in range(3):
            record(s, now=now, actor="test", action="test.event", subject_type="test", subject_id=f"e{i}",
                   details={"i": i, "text": "中文"})
    with world.sessions.begin() as s:
        assert list(verify_chain(s)) == []
        subjects = s.execute(select(AuditEvent.subject_id).where(AuditEvent.action == "test.event")
                             .order_by(AuditEvent.id)).scalars().all()
    assert subjects == ["e0", "e1", "e2"]


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_an_error_at_commit_is_raised_with_its_sqlstate(world):
    """Commit-time statements go out in one pipeline: the server's error still arrives, wrapped as usual."""
    with pytest.raises(exc.DBAPIError) as raised:
        with world.sessions.begin() as s:
            at_commit(s, AUDIT_CHAIN, "audit", lambda session: session.execute(text("SELECT 1 / 0")))
    assert getattr(raised.value.orig, "sqlstate", None) == "22012"
    with world.sessions.begin() as s:  # the connection is usable again
        assert s.execute(text("SELECT 1")).scalar_one() == 1
