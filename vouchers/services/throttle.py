"""Failed-attempt throttling shared by every worker process: the database, or Redis.

Fixed windows: each subject (``client:<id>``, ``ip:<addr>``, ``account:<no>``)
counts failed redemption attempts; once it reaches its limit every further
attempt is refused with 429 until the window ends (``Retry-After``). Limits
are given per check, so the web page can be stricter than terminals on the
same account counter. State lives outside the process, so a lockout
survives a worker restart.

Concurrent requests of one subject may overshoot a limit by at most the
number in flight at once: the count is exact, the check is not transactional
with it. For 63-bit codes that slack is irrelevant.
"""
from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Select, bindparam, case, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from vouchers.storage import hot_sql
from vouchers.storage.api_models import ThrottleCounter

_TABLE = ThrottleCounter.__table__
# Checked on every redemption: one kept statement per number of keys (one or two), storage.hot_sql.
_COUNTERS: dict[int, Select] = {}


def _counters(n: int) -> Select:
    statement = _COUNTERS.get(n)
    if statement is None:
        statement = _COUNTERS[n] = (select(_TABLE.c.key, _TABLE.c.window_start, _TABLE.c.failures)
                                    .where(_TABLE.c.key.in_([bindparam(f"k{i}") for i in range(n)])))
    return statement


@dataclass(frozen=True)
class Limit:
    key: str
    max_failures: int


class Throttle(Protocol):
    def retry_after(self, session: Session, limits: Sequence[Limit], now: dt.datetime) -> int | None:
        """Seconds until the most restrictive locked subject frees up, or None if none is locked."""

    def record_failure(self, session: Session, limits: Sequence[Limit], now: dt.datetime) -> list[str]:
        """Count one failure against each subject; returns the keys that have just become locked."""


def _seconds_left(window_start: dt.datetime, window: dt.timedelta, now: dt.datetime) -> int:
    return max(1, math.ceil((window_start + window - now).total_seconds()))


class DatabaseThrottle:
    """Counters in ``throttle_counters``; upserts are atomic on PostgreSQL and SQLite."""

    def __init__(self, window_seconds: int) -> None:
        self.window = dt.timedelta(seconds=window_seconds)

    def retry_after(self, session: Session, limits: Sequence[Limit], now: dt.datetime) -> int | None:
        if not limits:
            return None
        by_key = {lim.key: lim.max_failures for lim in limits}
        rows = hot_sql.rows(session, _counters(len(by_key)), {f"k{i}": key for i, key in enumerate(by_key)})
        waits = [_seconds_left(start, self.window, now) for key, start, failures in rows
                 if start > now - self.window and failures >= by_key[key]]
        return max(waits) if waits else None

    def record_failure(self, session: Session, limits: Sequence[Limit], now: dt.datetime) -> list[str]:
        table = ThrottleCounter.__table__
        insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        cutoff = now - self.window
        expired = table.c.window_start <= cutoff
        locked = []
        for lim in sorted(limits, key=lambda x: x.key):  # fixed order: no lock cycles between writers
            stmt = insert(table).values(key=lim.key, window_start=now, failures=1, updated_at=now)
            stmt = stmt.on_conflict_do_update(
                index_elements=["key"],
                set_={
                    "failures": case((expired, 1), else_=table.c.failures + 1),
                    "window_start": case((expired, stmt.excluded.window_start), else_=table.c.window_start),
                    "updated_at": stmt.excluded.updated_at,
                },
            ).returning(table.c.failures)
            failures = session.execute(stmt).scalar_one()
            if failures == lim.max_failures:
                locked.append(lim.key)
        return locked

    def purge(self, session: Session, now: dt.datetime) -> int:
        """Drop counters whose window ended (housekeeping)."""
        return session.execute(delete(ThrottleCounter).where(ThrottleCounter.updated_at <= now - self.window)).rowcount


class RedisThrottle:
    """Counters in Redis (``VOUCHER_REDIS_URL``): INCR with the window as expiry.

    The window starts at a subject's first failure; the key's TTL is the
    Retry-After. ``session`` is unused: Redis is its own store.
    """

    def __init__(self, client, window_seconds: int, prefix: str = "vouchers:throttle:") -> None:
        self.redis = client
        self.window_seconds = window_seconds
        self.prefix = prefix

    def retry_after(self, session: Session, limits: Sequence[Limit], now: dt.datetime) -> int | None:
        if not limits:
            return None
        pipe = self.redis.pipeline(transaction=False)
        for lim in limits:
            pipe.get(self.prefix + lim.key)
            pipe.pttl(self.prefix + lim.key)
        values = pipe.execute()
        waits = []
        for i, lim in enumerate(limits):
            count, pttl = values[2 * i], values[2 * i + 1]
            if count is not None and int(count) >= lim.max_failures and pttl and pttl > 0:
                waits.append(max(1, math.ceil(pttl / 1000)))
        return max(waits) if waits else None

    def record_failure(self, session: Session, limits: Sequence[Limit], now: dt.datetime) -> list[str]:
        pipe = self.redis.pipeline(transaction=True)
        for lim in limits:
            pipe.incr(self.prefix + lim.key)
            pipe.expire(self.prefix + lim.key, self.window_seconds, nx=True)
        values = pipe.execute()
        return [lim.key for i, lim in enumerate(limits) if int(values[2 * i]) == lim.max_failures]


def client_key(client_id: str) -> str:
    return f"client:{client_id}"


def ip_key(ip: str) -> str:
    return f"ip:{ip}"


def account_key(account_no: str) -> str:
    return f"account:{account_no}"
