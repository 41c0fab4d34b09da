"""Failed-attempt throttling shared by every worker process: the database, or Redis.

Fixed windows: each subject (``client:<id>``, ``ip:<addr>``, ``account:<no>`` for the tills,
``account:web:<no>`` for the public page) counts failed redemption attempts; once it reaches its
limit every further attempt is refused with 429 until the window ends (``Retry-After``). Each
channel has its own account counter, so failures on the web page never lock an account at a till.

The count decides, atomically (:meth:`Throttle.acquire`): an attempt is counted BEFORE it is made,
by one conditional statement (``INSERT ... ON CONFLICT DO UPDATE ... WHERE failures < limit
RETURNING``, or one Redis Lua script) that refuses it when a subject is at its limit; a success or
an attempt that is not a guess gives its count back (:meth:`Throttle.release`). So concurrent
requests cannot overshoot a limit: every attempt made was counted first, and counting is serialised
by the store. State lives outside the process, so a lockout survives a worker restart.
"""
from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Engine, Select, bindparam, case, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from vouchers.errors import VoucherError
from vouchers.storage import hot_sql
from vouchers.storage.api_models import ThrottleCounter
from vouchers.storage.types import UTCDateTime

_TABLE = ThrottleCounter.__table__
# Checked on every redemption: one kept statement per number of keys (one or two), storage.hot_sql.
_COUNTERS: dict[int, Select] = {}
_ACQUIRE: dict[tuple[str, int], Any] = {}
_RELEASE = (update(_TABLE).where(_TABLE.c.key.in_(bindparam("keys", expanding=True)), _TABLE.c.failures > 0)
            .values(failures=_TABLE.c.failures - 1))
SPENT_PREFIX = "spent:"  # single-use markers (proof-of-work challenges): not lockouts


def _counters(n: int) -> Select:
    statement = _COUNTERS.get(n)
    if statement is None:
        statement = _COUNTERS[n] = (select(_TABLE.c.key, _TABLE.c.window_start, _TABLE.c.failures)
                                    .where(_TABLE.c.key.in_([bindparam(f"k{i}") for i in range(n)])))
    return statement


def _acquire_statement(dialect: str, n: int) -> Any:
    """``n`` subjects counted in one statement, each only while below its limit or once its window ended."""
    statement = _ACQUIRE.get((dialect, n))
    if statement is None:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        now = bindparam("now", type_=UTCDateTime())
        stmt = insert(_TABLE).values([{"key": bindparam(f"k{i}"), "window_start": now, "failures": 1,
                                       "updated_at": now} for i in range(n)])
        expired = _TABLE.c.window_start <= bindparam("cutoff", type_=UTCDateTime())
        limit = case(*((_TABLE.c.key == bindparam(f"k{i}"), bindparam(f"m{i}")) for i in range(n)))
        statement = _ACQUIRE[(dialect, n)] = stmt.on_conflict_do_update(
            index_elements=["key"],
            set_={"failures": case((expired, 1), else_=_TABLE.c.failures + 1),
                  "window_start": case((expired, stmt.excluded.window_start), else_=_TABLE.c.window_start),
                  "updated_at": stmt.excluded.updated_at},
            where=or_(expired, _TABLE.c.failures < limit),
        ).returning(_TABLE.c.key, _TABLE.c.failures)
    return statement


@dataclass(frozen=True)
class Limit:
    key: str
    max_failures: int


class Locked(VoucherError):
    """A subject is at its limit: nothing was counted; retry after ``retry_after`` seconds."""

    code = "too_many_attempts"

    def __init__(self, retry_after: int, keys: Sequence[str] = ()) -> None:
        super().__init__(f"too many failed attempts: retry in {retry_after} s")
        self.retry_after = retry_after
        self.keys = tuple(keys)


@dataclass
class Ticket:
    """One attempt counted against its subjects: ``counts`` include it. Give it back with ``release``."""

    counts: dict[str, int]
    limits: dict[str, int]
    in_session: bool  # counted in the caller's transaction: its rollback undoes the count
    held: set[str] = field(default_factory=set)

    def count(self, key: str) -> int:
        return self.counts.get(key, 0)

    def newly_locked(self) -> list[str]:
        """Subjects this attempt, if it failed, brought to their limit (for the ``lockout`` alert)."""
        return sorted(k for k in self.held if self.counts[k] == self.limits[k])


class Throttle(Protocol):
    def acquire(self, session: Session, limits: Sequence[Limit], now: dt.datetime) -> Ticket:
        """Count one attempt against every subject, or raise :class:`Locked` (counting nothing)."""

    def release(self, session: Session, ticket: Ticket, keys: Iterable[str] | None = None) -> None:
        """Give back the count of ``keys`` (all by default): the attempt succeeded or was no guess."""

    def abandon(self, ticket: Ticket) -> None:
        """The caller's transaction rolled back: give back whatever the rollback did not undo."""

    def spend_once(self, session: Session, token_id: str, ttl_seconds: int, now: dt.datetime) -> bool:
        """Mark a single-use token spent; False if it already was."""

    def peek(self, session: Session, key: str, now: dt.datetime) -> int:
        """A subject's failures in its current window (read only)."""

    def retry_after(self, session: Session, limits: Sequence[Limit], now: dt.datetime) -> int | None:
        """Seconds until the most restrictive locked subject frees up, or None if none is locked."""

    def record_failure(self, session: Session, limits: Sequence[Limit], now: dt.datetime) -> list[str]:
        """Count one failure against each subject; returns the keys that have just become locked."""

    def counters(self, session: Session, now: dt.datetime) -> list[Counter]:
        """Every subject with failures in its current window."""

    def clear(self, session: Session, keys: Sequence[str]) -> int:
        """Forget these subjects' counts (an operator's unlock); how many there were."""


@dataclass(frozen=True)
class Counter:
    key: str
    failures: int
    seconds_left: int


def _seconds_left(window_start: dt.datetime, window: dt.timedelta, now: dt.datetime) -> int:
    return max(1, math.ceil((window_start + window - now).total_seconds()))


class DatabaseThrottle:
    """Counters in ``throttle_counters``.

    On PostgreSQL an attempt is counted on a connection of its own in autocommit (``autocommit``: an
    engine of its own), so the counter row is locked for one statement, not for the redemption, and
    every other worker sees the count at once. SQLite has one writer at a time: counted in the
    caller's transaction, which holds the database's write lock, and which the caller commits even for
    a refusal (the refused attempt's own work is undone by a savepoint).
    """

    def __init__(self, window_seconds: int, autocommit: Engine | None = None) -> None:
        self.window = dt.timedelta(seconds=window_seconds)
        self.window_seconds = window_seconds
        self.autocommit = autocommit

    def _run(self, session: Session, in_session: bool, statement: Any, params: Mapping[str, Any], *,
             hot: bool = False) -> list[Any]:
        """``hot``: the counting statement, compiled once (storage.hot_sql): SQLAlchemy cannot cache a
        multi-row VALUES, so it compiled it afresh for every attempt."""
        if in_session:
            if hot:
                return hot_sql.rows(session, statement, params)
            result = session.execute(statement, params)
            return list(result) if result.returns_rows else []
        assert self.autocommit is not None
        with self.autocommit.connect() as conn:
            if hot:
                return hot_sql.rows_on(conn, statement, params)
            result = conn.execute(statement, params)
            return list(result) if result.returns_rows else []

    def _in_session(self, session: Session) -> bool:
        return self.autocommit is None or session.get_bind().dialect.name != "postgresql"

    def acquire(self, session: Session, limits: Sequence[Limit], now: dt.datetime) -> Ticket:
        by_key = {lim.key: lim.max_failures for lim in limits}
        keys = sorted(by_key)  # fixed order: no lock cycles between writers
        in_session = self._in_session(session)
        ticket = Ticket({}, by_key, in_session)
        if not keys:
            return ticket
        params: dict[str, Any] = {"now": now, "cutoff": now - self.window}
        for i, key in enumerate(keys):
            params[f"k{i}"], params[f"m{i}"] = key, by_key[key]
        rows = self._run(session, in_session, _acquire_statement(session.get_bind().dialect.name, len(keys)),
                         params, hot=True)
        ticket.counts = {row[0]: int(row[1]) for row in rows}
        ticket.held = set(ticket.counts)
        locked = [key for key in keys if key not in ticket.counts]
        if locked:
            self.release(session, ticket)
            wait = self.retry_after(session, [Limit(k, by_key[k]) for k in locked], now) or 1
            raise Locked(wait, locked)
        return ticket

    def release(self, session: Session, ticket: Ticket, keys: Iterable[str] | None = None) -> None:
        give = sorted(ticket.held if keys is None else ticket.held.intersection(keys))
        if give:
            self._run(session, ticket.in_session, _RELEASE, {"keys": give})
            ticket.held.difference_update(give)

    def abandon(self, ticket: Ticket) -> None:
        if ticket.in_session:
            ticket.held.clear()  # the rollback undid the count
        elif ticket.held:
            assert self.autocommit is not None
            with self.autocommit.connect() as conn:
                conn.execute(_RELEASE, {"keys": sorted(ticket.held)})
            ticket.held.clear()

    def spend_once(self, session: Session, token_id: str, ttl_seconds: int, now: dt.datetime) -> bool:
        """A row ``spent:<id>`` (purged with the counters); its window is the token's lifetime."""
        key = SPENT_PREFIX + token_id
        statement = _acquire_statement(session.get_bind().dialect.name, 1)
        # a spent token is "locked" at once (limit 1) and stays so for the window
        rows = self._run(session, self._in_session(session), statement,
                         {"now": now, "cutoff": now - dt.timedelta(seconds=max(ttl_seconds, self.window_seconds)),
                          "k0": key, "m0": 1})
        return bool(rows) and int(rows[0][1]) == 1

    def peek(self, session: Session, key: str, now: dt.datetime) -> int:
        row = hot_sql.one_or_none(session, _counters(1), {"k0": key})
        return int(row.failures) if row is not None and row.window_start > now - self.window else 0

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

    def counters(self, session: Session, now: dt.datetime) -> list[Counter]:
        rows = session.execute(select(_TABLE.c.key, _TABLE.c.window_start, _TABLE.c.failures)
                               .where(_TABLE.c.window_start > now - self.window, _TABLE.c.failures > 0,
                                      ~_TABLE.c.key.startswith(SPENT_PREFIX))
                               .order_by(_TABLE.c.key))
        return [Counter(key, failures, _seconds_left(start, self.window, now)) for key, start, failures in rows]

    def clear(self, session: Session, keys: Sequence[str]) -> int:
        if not keys:
            return 0
        return session.execute(delete(ThrottleCounter).where(ThrottleCounter.key.in_(list(keys)))).rowcount

    def purge(self, session: Session, now: dt.datetime) -> int:
        """Drop counters whose window ended (housekeeping)."""
        return session.execute(delete(ThrottleCounter).where(ThrottleCounter.updated_at <= now - self.window)).rowcount


# KEYS: the subjects; ARGV: window (ms), then each subject's limit. All or nothing: if any subject is at
# its limit (and its window runs), nothing is counted and the longest wait (ms) is returned as {-1, ms}.
_ACQUIRE_LUA = """
local wait = -1
for i, key in ipairs(KEYS) do
  local count = tonumber(redis.call('GET', key) or '0')
  if count >= tonumber(ARGV[i + 1]) then
    local ttl = redis.call('PTTL', key)
    if ttl > 0 and ttl > wait then wait = ttl end
  end
end
if wait > 0 then return {-1, wait} end
local counts = {}
for i, key in ipairs(KEYS) do
  local ttl = redis.call('PTTL', key)
  if ttl <= 0 then redis.call('SET', key, 0, 'PX', ARGV[1]) end
  counts[i] = redis.call('INCR', key)
end
return counts
"""
_RELEASE_LUA = """
for _, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') > 0 then redis.call('DECR', key) end
end
return 0
"""


class RedisThrottle:
    """Counters in Redis (``VOUCHER_REDIS_URL``): a Lua script checks and counts all subjects at once.

    The window starts at a subject's first failure; the key's TTL is the
    Retry-After. ``session`` is unused: Redis is its own store.
    """

    def __init__(self, client, window_seconds: int, prefix: str = "vouchers:throttle:") -> None:
        self.redis = client
        self.window_seconds = window_seconds
        self.prefix = prefix
        self._acquire: Callable[..., Any] = client.register_script(_ACQUIRE_LUA)
        self._release: Callable[..., Any] = client.register_script(_RELEASE_LUA)

    def acquire(self, session: Session, limits: Sequence[Limit], now: dt.datetime) -> Ticket:
        by_key = {lim.key: lim.max_failures for lim in limits}
        keys = sorted(by_key)
        ticket = Ticket({}, by_key, in_session=False)
        if not keys:
            return ticket
        result = self._acquire(keys=[self.prefix + k for k in keys],
                               args=[self.window_seconds * 1000, *(by_key[k] for k in keys)])
        if int(result[0]) == -1:
            raise Locked(max(1, math.ceil(int(result[1]) / 1000)))
        ticket.counts = {k: int(c) for k, c in zip(keys, result)}
        ticket.held = set(keys)
        return ticket

    def release(self, session: Session, ticket: Ticket, keys: Iterable[str] | None = None) -> None:
        give = sorted(ticket.held if keys is None else ticket.held.intersection(keys))
        if give:
            self._release(keys=[self.prefix + k for k in give], args=[])
            ticket.held.difference_update(give)

    def abandon(self, ticket: Ticket) -> None:
        self.release(None, ticket)  # type: ignore[arg-type]

    def spend_once(self, session: Session, token_id: str, ttl_seconds: int, now: dt.datetime) -> bool:
        return bool(self.redis.set(self.prefix + SPENT_PREFIX + token_id, 1, nx=True, ex=max(1, ttl_seconds)))

    def peek(self, session: Session, key: str, now: dt.datetime) -> int:
        return int(self.redis.get(self.prefix + key) or 0)

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

    def counters(self, session: Session, now: dt.datetime) -> list[Counter]:
        keys = sorted(k for k in self.redis.scan_iter(match=self.prefix.replace("*", r"\*") + "*", count=1000)
                      if not (k.decode() if isinstance(k, bytes) else k)[len(self.prefix):].startswith(SPENT_PREFIX))
        if not keys:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for k in keys:
            pipe.get(k)
            pipe.pttl(k)
        values = pipe.execute()
        found = []
        for i, k in enumerate(keys):
            count, pttl = values[2 * i], values[2 * i + 1]
            if count is not None and int(count) > 0 and pttl and pttl > 0:
                name = k.decode() if isinstance(k, bytes) else k
                found.append(Counter(name[len(self.prefix):], int(count), max(1, math.ceil(pttl / 1000))))
        return found

    def clear(self, session: Session, keys: Sequence[str]) -> int:
        return int(self.redis.delete(*(self.prefix + k for k in keys))) if keys else 0


def client_key(client_id: str) -> str:
    return f"client:{client_id}"


def ip_key(ip: str) -> str:
    return f"ip:{ip}"


def account_key(account_no: str, channel: str = "terminal") -> str:
    """Each channel counts its own failures on an account: the web's never lock the account at a till."""
    return f"account:{account_no}" if channel == "terminal" else f"account:{channel}:{account_no}"


def subject_keys(*, account_no: str | None = None, ip: str | None = None, client_id: str | None = None,
                 channels: Iterable[str] = ("terminal", "web", "sms")) -> list[str]:
    """The counter keys an operator's unlock clears (an account's in every channel)."""
    if account_no is not None:
        return [account_key(account_no, channel) for channel in channels]
    if ip is not None:
        return [ip_key(ip)]
    assert client_id is not None
    return [client_key(client_id)]


@dataclass(frozen=True)
class ThrottleLimits:
    """Failed redemption attempts allowed per subject in one window, then 429 until the window ends.

    Terminals are authenticated and counted per client and per account; the public web page per IP
    address and per account (its own account counter). An IP is shared by many customers behind
    carrier-grade NAT: after ``web_ip_challenge_after`` failures in a window the page asks each
    attempt from that address for a proof of work (``web_pow_bits`` leading zero bits of SHA-256,
    one bit more for every further ``web_ip_challenge_after`` failures), and only at
    ``web_ip_failures`` does it block the address. Typos caught by the check digit never count.
    """

    window_seconds: int = 900
    client_failures: int = 20
    account_failures: int = 10
    web_ip_failures: int = 300
    web_account_failures: int = 5
    web_ip_challenge_after: int = 20
    web_pow_bits: int = 16
    client_lookups: int = 300  # holder lookups: every one counts (enumeration), not only failures
    web_ip_lookups: int = 300  # high: many customers share an address behind carrier-grade NAT
    sms_sender_failures: int = 5

    def limit_of(self, key: str) -> int | None:
        """The limit in force for a counter key (None: not a throttle subject)."""
        kind, _, rest = key.partition(":")
        if kind == "lookup":  # holder lookups: lookup:client:<id>, lookup:ip:<addr>
            sub = rest.partition(":")[0]
            return {"client": self.client_lookups, "ip": self.web_ip_lookups}.get(sub)
        if kind == "sms":  # failed SMS top-ups per sending number
            return self.sms_sender_failures
        if kind == "client":
            return self.client_failures
        if kind == "ip":
            return self.web_ip_failures
        if kind == "account":
            return self.web_account_failures if rest.startswith("web:") else self.account_failures
        return None

    def pow_bits(self, ip_failures: int) -> int:
        """Leading zero bits the page asks of an attempt from an address with ``ip_failures`` (this one
        included); 0: none. Grows by one bit (doubling the expected work) every ``web_ip_challenge_after``."""
        over = ip_failures - self.web_ip_challenge_after
        if over <= 0:
            return 0
        return min(self.web_pow_bits + (over - 1) // self.web_ip_challenge_after, self.web_pow_bits + 8)



def build(settings: Any, limits: ThrottleLimits, engine: Engine | None = None, prefix: str | None = None,
          pool_size: int = 4) -> Throttle:
    """The store the settings name: Redis (``VOUCHER_REDIS_URL``) or the database (with, on PostgreSQL,
    an autocommit engine of its own for counting)."""
    if settings.redis_url:
        import redis

        client = redis.Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
        return RedisThrottle(client, limits.window_seconds,
                             prefix=prefix or "vouchers:throttle:")
    autocommit = None
    if engine is not None and engine.dialect.name == "postgresql":
        from sqlalchemy import create_engine

        from sqlalchemy import event

        autocommit = create_engine(engine.url, isolation_level="AUTOCOMMIT", pool_pre_ping=True,
                                   hide_parameters=True, pool_size=pool_size, max_overflow=pool_size)
        # its connections go when the application's do (a worker's shutdown, a test's dispose)
        event.listen(engine, "engine_disposed", lambda _engine: autocommit.dispose())

        @event.listens_for(autocommit, "connect")
        def _no_flush_wait(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            # a count lost in a server crash is harmless; a WAL flush per attempt is not free
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SET synchronous_commit TO off")
    return DatabaseThrottle(limits.window_seconds, autocommit)
