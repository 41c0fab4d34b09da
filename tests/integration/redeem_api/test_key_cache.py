"""VOUCHER_API_KEY_CACHE_SECONDS: a worker answers a key it checked moments ago from memory (issue 24).

Off by default (every request asks the database, a revocation counts at once); when set, a revoked key
keeps working at most that many seconds on the app's clock, a wrong or unknown key is never cached, and a
key made after the cache filled works at once.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import event

from redeem_api.state import EXTENSION
from vouchers.services.clients import create_client, revoke_client
from tests.integration.redeem_api.world import Clock, auth


def _lookups(app) -> list[str]:
    seen: list[str] = []

    @event.listens_for(app.extensions[EXTENSION].engine, "before_cursor_execute")
    def record(conn, cursor, statement, params, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if "FROM api_clients" in statement:
            seen.append(statement)

    return seen


def test_off_by_default_every_request_checks_its_key(world, now):
    app = world.app(Clock(now))
    assert app.extensions[EXTENSION].clients is None
    client, seen = app.test_client(), _lookups(app)
    for _ in range(2):
        assert client.get("/api/v1/keys", headers=auth(world.keys["finance"])).status_code == 200
    assert len(seen) == 2
    with world.sessions.begin() as s:
        revoke_client(s, world.client_ids["finance"], now=now)
    assert client.get("/api/v1/keys", headers=auth(world.keys["finance"])).status_code == 401
    app.extensions[EXTENSION].engine.dispose()


def test_a_cached_key_is_not_looked_up_and_a_revocation_counts_within_the_bound(world, now):
    clock = Clock(now)
    app = world.app(clock, VOUCHER_API_KEY_CACHE_SECONDS="5")
    client, seen = app.test_client(), _lookups(app)
    key = world.keys["finance"]
    assert client.get("/api/v1/keys", headers=auth(key)).status_code == 200
    assert client.get("/api/v1/keys", headers=auth(key)).status_code == 200
    assert len(seen) == 1  # the second request was answered from the worker's memory
    with world.sessions.begin() as s:
        revoke_client(s, world.client_ids["finance"], now=now)
    clock.now = now + dt.timedelta(seconds=4)
    assert client.get("/api/v1/keys", headers=auth(key)).status_code == 200  # within the bound
    clock.now = now + dt.timedelta(seconds=5)
    assert client.get("/api/v1/keys", headers=auth(key)).status_code == 401  # never longer
    # a wrong secret for a cached client id is looked up (and refused), never taken from the cache
    other = world.keys["terminal"]
    assert client.get("/api/v1/accounts/none", headers=auth(other)).status_code in (200, 404)
    client_id, secret = other.split(".", 1)
    wrong = f"{client_id}.{secret[:-1]}{'A' if secret[-1] != 'A' else 'B'}"
    before = len(seen)
    assert client.get("/api/v1/accounts/none", headers=auth(wrong)).status_code == 401
    assert len(seen) == before + 1
    # a key made now works at once
    with world.sessions.begin() as s:
        _, fresh = create_client(s, name="new finance", role="finance", now=now)
    assert client.get("/api/v1/keys", headers=auth(fresh)).status_code == 200
    app.extensions[EXTENSION].engine.dispose()
