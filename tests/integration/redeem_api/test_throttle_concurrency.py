"""Issue 21, finding 4: concurrent failures cannot overshoot a limit, and the web page cannot lock a till out.

Real concurrency: one thread per request against the app (PostgreSQL, SQLite, Redis). Before the count was
atomic with the check, 24 concurrent wrong codes on /redeem were counted as 18 failures against a limit of
5, and the account's (shared) counter then locked it at every till.
"""
from __future__ import annotations

import threading
import uuid

import pytest

from redeem_api.state import EXTENSION
from tests.integration.redeem_api.test_web_page import confirm, open_form, submit
from tests.integration.redeem_api.world import ACCOUNT_ARREARS, Clock, auth, fresh_key
from tests.services import redis_or_skip
from vouchers.codes import generate_code
from vouchers.services.throttle import Limit, Locked, account_key

LIMIT, THREADS = 5, 24
WEB = dict(VOUCHER_THROTTLE_WEB_ACCOUNT_FAILURES=str(LIMIT), VOUCHER_THROTTLE_WEB_IP_FAILURES="1000",
           VOUCHER_THROTTLE_WEB_IP_CHALLENGE_AFTER="1000")


def _storm(app, account: str) -> list[int]:
    """THREADS wrong codes confirmed on /redeem at once (one browser each, one IP, no API key): each
    browser has passed the first step (the holder shown), then all press "confirm" together."""
    forms = []
    for _ in range(THREADS):
        client = app.test_client()
        fields = open_form(client, "en")[1]
        first = client.post("/redeem", data={**fields, "account_no": account, "code": generate_code()})
        assert first.status_code == 200 and 'name="ticket"' in first.get_data(as_text=True)
        forms.append((client, first))
    barrier = threading.Barrier(THREADS)
    statuses: list[int] = []

    def post(client, first) -> None:
        barrier.wait()
        statuses.append(confirm(client, first).status_code)

    threads = [threading.Thread(target=post, args=form) for form in forms]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


def _check(app, world, statuses: list[int]) -> None:
    made = statuses.count(422)  # attempts that reached a lookup
    assert sorted(set(statuses)) == [422, 429], statuses
    assert made <= LIMIT + 1, f"{made} wrong codes were tried against a limit of {LIMIT}"
    st = app.extensions[EXTENSION]
    with world.sessions.begin() as s:
        counted = [c.failures for c in st.throttle.counters(s, world.now)
                   if c.key == account_key(ACCOUNT_ARREARS, "web")]
    assert counted and counted[0] <= LIMIT + 1
    # the account is locked on the page ...
    _, fields = open_form(app.test_client(), "en")
    assert submit(app.test_client(), fields, ACCOUNT_ARREARS, world.cards[0].code).status_code in (403, 429)
    # ... but a genuine code at a till still works: the web's failures are not the till's
    till = app.test_client().post("/api/v1/redemptions", json={"code": world.cards[0].code,
                                                               "account_no": ACCOUNT_ARREARS},
                                  headers=auth(world.keys["terminal"], fresh_key()))
    assert till.status_code == 201, till.get_json()


def test_concurrent_web_failures_stay_within_the_limit_and_never_lock_a_till(world, now):
    app = world.app(Clock(now), **WEB)
    try:
        _check(app, world, _storm(app, ACCOUNT_ARREARS))
    finally:
        app.extensions[EXTENSION].engine.dispose()


@pytest.fixture
def redis_env():
    url, client = redis_or_skip(0)
    prefix = f"test-{uuid.uuid4().hex}:"
    yield {"VOUCHER_REDIS_URL": url, "VOUCHER_REDIS_PREFIX": prefix}
    for key in client.scan_iter(prefix + "*"):
        client.delete(key)
    client.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_same_with_redis(world, now, redis_env):
    app = world.app(Clock(now), **WEB, **redis_env)
    try:
        _check(app, world, _storm(app, ACCOUNT_ARREARS))
    finally:
        app.extensions[EXTENSION].engine.dispose()


def test_acquire_is_all_or_nothing_and_gives_back(world, now):
    """A subject at its limit refuses the attempt and counts nothing on the others; release gives back."""
    app = world.app(Clock(now))
    throttle = app.extensions[EXTENSION].throttle
    app.extensions[EXTENSION].engine.dispose()
    a, b = Limit("ip:198.51.100.7", 2), Limit("account:web:1", 1)
    with world.sessions.begin() as s:
        ticket = throttle.acquire(s, [a, b], now)
        assert ticket.counts == {a.key: 1, b.key: 1} and ticket.newly_locked() == [b.key]
    with world.sessions.begin() as s, pytest.raises(Locked) as locked:
        throttle.acquire(s, [a, b], now)
    assert locked.value.retry_after > 0
    with world.sessions.begin() as s:
        assert {c.key: c.failures for c in throttle.counters(s, now)} == {a.key: 1, b.key: 1}
        ticket = throttle.acquire(s, [a], now)
        throttle.release(s, ticket)
        assert {c.key: c.failures for c in throttle.counters(s, now)}[a.key] == 1


# ---- holder lookups: counted and checked in one step too (Throttle.acquire), so no overshoot either

LOOKUP_LIMIT = 4
LOOKUPS = dict(VOUCHER_THROTTLE_CLIENT_LOOKUPS=str(LOOKUP_LIMIT), VOUCHER_THROTTLE_CLIENT_FAILURES="1000",
               VOUCHER_THROTTLE_WEB_IP_LOOKUPS=str(LOOKUP_LIMIT), VOUCHER_THROTTLE_WEB_IP_FAILURES="1000",
               VOUCHER_THROTTLE_WEB_IP_CHALLENGE_AFTER="1000")


def _at_once(calls) -> list[int]:
    """Run the calls in one thread each, released together; their status codes."""
    barrier = threading.Barrier(len(calls))
    statuses: list[int] = []

    def run(call) -> None:
        barrier.wait()
        statuses.append(call())

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


def _lookup_storm(app, world) -> None:
    """THREADS holder lookups at once by one terminal, and THREADS first steps of /redeem from one IP:
    at most the limit of each is answered, the rest get 429, and the counter never passes the limit."""
    terminal = auth(world.keys["terminal"])
    api = [lambda c=app.test_client(): c.get(f"/api/v1/accounts/{ACCOUNT_ARREARS}", headers=terminal).status_code
           for _ in range(THREADS)]
    forms = []
    for _ in range(THREADS):
        client = app.test_client()
        forms.append((client, open_form(client, "en")[1]))
    web = [lambda c=c, f=f: c.post("/redeem", data={**f, "account_no": ACCOUNT_ARREARS,
                                                     "code": world.cards[0].code}).status_code
           for c, f in forms]
    for calls, key in ((api, "lookup:client:"), (web, "lookup:ip:")):
        statuses = _at_once(calls)
        assert sorted(set(statuses)) == [200, 429], statuses
        assert statuses.count(200) == LOOKUP_LIMIT, f"{statuses.count(200)} lookups answered, limit {LOOKUP_LIMIT}"
        st = app.extensions[EXTENSION]
        with world.sessions.begin() as s:
            counted = [c.failures for c in st.throttle.counters(s, world.now) if c.key.startswith(key)]
        assert counted == [LOOKUP_LIMIT], counted


def test_concurrent_holder_lookups_stay_within_the_limit(world, now):
    app = world.app(Clock(now), **LOOKUPS)
    try:
        _lookup_storm(app, world)
    finally:
        app.extensions[EXTENSION].engine.dispose()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_concurrent_holder_lookups_with_redis(world, now, redis_env):
    app = world.app(Clock(now), **LOOKUPS, **redis_env)
    try:
        _lookup_storm(app, world)
    finally:
        app.extensions[EXTENSION].engine.dispose()
