"""The Redis throttle (``VOUCHER_REDIS_URL``) method by method, against a real Redis under a scratch prefix.

The redemption, holder-lookup and staff-login tests reach the Redis path only through one app test each;
these pin what each method promises: who is reported as just locked, that later failures never stretch a
window, the Retry-After in whole seconds rounded up (never 0), the counters an operator sees, single-use
tokens. Where Redis cannot be made to answer an edge on demand (a PTTL of 0 or 1 ms), a stand-in pipeline
gives the values Redis documents. Each test was written against a surviving mutant of vouchers/services/
throttle.py (docs/testing.md, "Redis throttle").
"""
from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.services import redis_or_skip
from vouchers.config import Settings
from vouchers.services.throttle import SPENT_PREFIX, Limit, Locked, RedisThrottle, ThrottleLimits, build

NOW = dt.datetime(2026, 11, 26, 2, 0, tzinfo=dt.timezone.utc)  # unused by Redis (its own clock): passed through
WINDOW = 900


@pytest.fixture
def redis_client():
    _, client = redis_or_skip(0)  # an error, not a skip, in CI
    yield client
    client.close()


@pytest.fixture
def prefix(redis_client) -> Iterator[str]:
    prefix = f"test-throttle-{uuid.uuid4().hex}:"
    yield prefix
    for key in redis_client.scan_iter(prefix + "*"):
        redis_client.delete(key)


@pytest.fixture
def throttle(redis_client, prefix) -> RedisThrottle:
    return RedisThrottle(redis_client, WINDOW, prefix=prefix)


def test_the_default_prefix_is_the_documented_one(redis_client):
    """docs/configuration.md: VOUCHER_REDIS_PREFIX defaults to `vouchers:throttle:` (an operator's scans and
    a second installation on the same Redis rely on it); the class and ``build`` agree."""
    assert RedisThrottle(redis_client, WINDOW).prefix == "vouchers:throttle:"
    settings = Settings.from_env({"VOUCHER_REDIS_URL": "redis://127.0.0.1:6379/0", "VOUCHER_HOME": "/nonexistent"})
    built = build(settings, ThrottleLimits())
    assert isinstance(built, RedisThrottle) and built.prefix == "vouchers:throttle:"
    built.redis.close()


def test_record_failure_reports_each_subject_once_when_it_reaches_its_limit(throttle):
    limits = [Limit("ip:10.0.0.1", 2), Limit("account:web:3100000001", 3)]
    assert throttle.peek(None, "ip:10.0.0.1", NOW) == 0  # never counted: no key at all
    assert throttle.record_failure(None, limits, NOW) == []
    assert throttle.record_failure(None, limits, NOW) == ["ip:10.0.0.1"]
    assert throttle.record_failure(None, limits, NOW) == ["account:web:3100000001"]
    assert throttle.record_failure(None, limits, NOW) == []  # past the limit: locked already, not "just locked"
    assert [throttle.peek(None, lim.key, NOW) for lim in limits] == [4, 4]


def test_later_failures_never_stretch_the_window(throttle, redis_client, prefix):
    """The window starts at the first failure: a failure near its end must not restart it (EXPIRE NX)."""
    lim = Limit("ip:10.0.0.2", 5)
    throttle.record_failure(None, [lim], NOW)
    assert WINDOW * 1000 - 5000 < redis_client.pttl(prefix + lim.key) <= WINDOW * 1000
    redis_client.pexpire(prefix + lim.key, 30_000)  # 870 s later: 30 s of the window left
    throttle.record_failure(None, [lim], NOW)
    assert 0 < redis_client.pttl(prefix + lim.key) <= 30_000
    assert throttle.peek(None, lim.key, NOW) == 2


def test_record_failure_counts_and_sets_the_window_in_one_transaction(redis_client, prefix):
    """INCR and EXPIRE go in one MULTI: between them another worker's acquire script would see a key without
    a TTL and start a new window at 0 (a lost count). Redis cannot be paused between the two, so the
    pipeline's mode is checked."""
    modes = []

    class Recording:
        def __getattr__(self, name):
            return getattr(redis_client, name)

        def pipeline(self, transaction=True, **kwargs):
            modes.append(transaction)
            return redis_client.pipeline(transaction=transaction, **kwargs)

    RedisThrottle(Recording(), WINDOW, prefix=prefix).record_failure(None, [Limit("ip:10.0.0.3", 2)], NOW)
    assert modes == [True]


def test_retry_after_is_the_longest_wait_in_whole_seconds_rounded_up(throttle, redis_client, prefix):
    locked, free = Limit("ip:10.0.0.4", 1), Limit("account:web:3100000004", 5)
    assert throttle.retry_after(None, [locked, free], NOW) is None  # nothing counted yet
    assert throttle.retry_after(None, [], NOW) is None
    redis_client.set(prefix + locked.key, 1, px=900_500)  # locked for 900.5 s: 901 s to wait, not 900
    assert throttle.retry_after(None, [locked, free], NOW) == 901
    assert throttle.retry_after(None, [free, locked], NOW) == 901  # wherever the locked subject is listed
    redis_client.set(prefix + free.key, 4, px=1_000_000)  # below its limit: no wait from it
    assert throttle.retry_after(None, [locked, free], NOW) == 901
    redis_client.set(prefix + free.key, 5, px=1_200_000)  # at its limit: the longer wait wins
    assert throttle.retry_after(None, [locked, free], NOW) == 1200
    redis_client.set(prefix + locked.key, 1, px=400)  # less than a second left: 1, never 0
    assert throttle.retry_after(None, [locked], NOW) == 1


class _Pipeline:
    """A stand-in for redis-py's pipeline answering GET and PTTL with given values (in command order)."""

    def __init__(self, values):
        self.values, self.commands = values, []

    def get(self, key):
        self.commands.append(("GET", key))

    def pttl(self, key):
        self.commands.append(("PTTL", key))

    def execute(self):
        return self.values[:len(self.commands)]


class _Client:
    def __init__(self, values):
        self.values = values

    def register_script(self, script):
        return None

    def pipeline(self, transaction=True):
        return _Pipeline(self.values)


@pytest.mark.parametrize(("pttl", "wait"), [(0, None), (1, 1), (-1, None), (-2, None), (1001, 2)])
def test_retry_after_at_the_last_millisecond(pttl, wait):
    """PTTL is 0 in a key's last millisecond (and -1 without a TTL, -2 once gone): no wait then; 1 ms is 1 s."""
    throttle = RedisThrottle(_Client([b"3", pttl]), WINDOW, prefix="p:")
    assert throttle.retry_after(None, [Limit("ip:10.0.0.5", 3)], NOW) == wait


def test_acquire_counts_every_subject_or_none_and_release_gives_back(throttle, redis_client, prefix):
    a, b = Limit("client:c_1", 2), Limit("account:3100000006", 3)
    ticket = throttle.acquire(None, [b, a], NOW)
    assert ticket.counts == {a.key: 1, b.key: 1} and ticket.held == {a.key, b.key}
    assert WINDOW * 1000 - 5000 < redis_client.pttl(prefix + a.key) <= WINDOW * 1000  # the window, in ms
    throttle.release(None, ticket, [b.key])
    assert (ticket.held, throttle.peek(None, b.key, NOW), throttle.peek(None, a.key, NOW)) == ({a.key}, 0, 1)
    throttle.abandon(ticket)
    assert (ticket.held, throttle.peek(None, a.key, NOW)) == (set(), 0)
    throttle.release(None, ticket)  # nothing held: nothing given back twice
    assert throttle.peek(None, a.key, NOW) == 0

    for _ in range(2):
        assert throttle.acquire(None, [a, b], NOW).newly_locked() == ([a.key] if _ else [])
    redis_client.pexpire(prefix + a.key, 900_500)
    with pytest.raises(Locked) as refused:
        throttle.acquire(None, [a, b], NOW)
    assert refused.value.retry_after == 901  # seconds, rounded up
    assert [throttle.peek(None, k, NOW) for k in (a.key, b.key)] == [2, 2]  # nothing counted when refused
    redis_client.pexpire(prefix + a.key, 300)
    with pytest.raises(Locked) as refused:
        throttle.acquire(None, [a], NOW)
    assert refused.value.retry_after == 1
    assert throttle.acquire(None, [], NOW).counts == {}


def test_counters_list_live_subjects_but_not_single_use_tokens(throttle, redis_client, prefix):
    assert throttle.counters(None, NOW) == []
    throttle.record_failure(None, [Limit("ip:10.0.0.7", 9)], NOW)
    throttle.record_failure(None, [Limit("ip:10.0.0.7", 9), Limit("account:3100000007", 9)], NOW)
    redis_client.set(prefix + "account:3100000008", 0, px=60_000)  # given back: no failures
    redis_client.set(prefix + "client:c_nottl", 3)  # no TTL: not a window
    assert throttle.spend_once(None, "pow:nonce-1", 60, NOW)
    redis_client.pexpire(prefix + "ip:10.0.0.7", 900_500)
    redis_client.pexpire(prefix + "account:3100000007", 400)
    found = {c.key: c for c in throttle.counters(None, NOW)}
    assert sorted(found) == ["account:3100000007", "ip:10.0.0.7"]
    assert (found["ip:10.0.0.7"].failures, found["ip:10.0.0.7"].seconds_left) == (2, 901)
    assert (found["account:3100000007"].failures, found["account:3100000007"].seconds_left) == (1, 1)  # not 0
    time.sleep(0.45)  # ...and gone once its window ends
    assert throttle.clear(None, ["ip:10.0.0.7", "account:3100000007", "ip:nobody"]) == 1
    assert throttle.clear(None, []) == 0
    assert sorted(c.key for c in throttle.counters(None, NOW)) == []


def test_a_prefix_with_a_wildcard_sees_only_its_own_keys(redis_client, prefix):
    starred = RedisThrottle(redis_client, WINDOW, prefix=prefix + "a*:")
    other = RedisThrottle(redis_client, WINDOW, prefix=prefix + "ab:")
    other.record_failure(None, [Limit("ip:10.0.0.9", 5)], NOW)
    starred.record_failure(None, [Limit("ip:10.0.0.10", 5)], NOW)
    assert [c.key for c in starred.counters(None, NOW)] == ["ip:10.0.0.10"]


def test_a_token_is_spent_once_and_its_mark_expires(throttle, redis_client, prefix):
    assert throttle.spend_once(None, "pow:n1", 120, NOW) is True
    assert throttle.spend_once(None, "pow:n1", 120, NOW) is False
    assert 115 <= redis_client.ttl(prefix + SPENT_PREFIX + "pow:n1") <= 120
    assert throttle.spend_once(None, "pow:n2", 0, NOW) is True  # no TTL given: kept a second, never forever
    assert redis_client.ttl(prefix + SPENT_PREFIX + "pow:n2") == 1
