"""Idempotency-Key records (IETF draft "The Idempotency-Key HTTP Header Field").

Two ways to hold a key while its request runs:

* :func:`reserve`: the key is reserved *in flight* in its own short
  transaction, so a second request with the same key sees it at once:
  another body -> 422, still in flight -> 409. A reservation whose worker
  died is taken over once it is older than ``stale_after``.
* :func:`reserve_in_transaction` (the redemption hot path): the reservation
  is inserted in the SAME transaction as the work, so a request costs one
  commit instead of two and a crash leaves nothing behind. While that
  transaction runs, the key is held by a transaction-scoped advisory lock
  (PostgreSQL), taken without waiting: a second request with the same key
  finds the lock taken and gets 409 at once (whatever its body: the first
  request's fingerprint is not visible until it commits). Once the first
  commits, the record answers replays (same body) and 422 (another body).
  SQLite has one writer at a time: the second request waits for the first
  and then gets its replay (or 422).

The rule is the same for both: while the key's request is in flight, 409
whatever the body; once it has committed, 422 for another body and the
stored status and body for the same one.

Either way the stored response is written in the same transaction as the
work it describes, so a crash leaves either both or neither.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, String, bindparam, delete, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from vouchers.storage import hot_sql
from vouchers.storage.api_models import IdempotencyRecord
from vouchers.storage.types import UTCDateTime
from vouchers.errors import VoucherError



class KeyInFlight(VoucherError):
    """A request with this key is still being processed (or was taken over by another worker): retry shortly."""

    code = "idempotency_in_flight"

    def __init__(self) -> None:
        super().__init__("a request with this Idempotency-Key is still being processed: retry shortly")


class KeyReused(VoucherError):
    """The key was already used with another request."""

    code = "idempotency_key_reused"

    def __init__(self) -> None:
        super().__init__("this Idempotency-Key was already used with another request: use a new key")


@dataclass(frozen=True)
class Reserved:
    record_id: int


@dataclass(frozen=True)
class Replay:
    status: int
    body: str


def fingerprint(secret: bytes, method: str, route: str, body: Any) -> str:
    """Keyed hash of what the request asks for; key order and spacing do not matter.

    Keyed, because the body holds a voucher code: a plain hash of it would
    be a guessable fingerprint of the secret.
    """
    canonical = json.dumps([method, route, body], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hmac.new(secret, canonical.encode("utf-8"), hashlib.sha256).hexdigest()


def _reserve_statement(dialect):
    table = IdempotencyRecord.__table__
    stmt = dialect.insert(table).values(
        scope=bindparam("scope"), client_pk=bindparam("client_pk"), key=bindparam("key"),
        fingerprint=bindparam("fingerprint"), state="in_flight", created_at=bindparam("at", type_=UTCDateTime()),
        updated_at=bindparam("at", type_=UTCDateTime()))
    return stmt.on_conflict_do_nothing(index_elements=["scope", "key"]).returning(table.c.id)


_RESERVE = {"postgresql": _reserve_statement(postgresql), "sqlite": _reserve_statement(sqlite)}


def reserve(session: Session, *, scope: str, client_pk: int | None, key: str, fingerprint: str,
            now: dt.datetime, stale_after: dt.timedelta) -> Reserved | Replay:
    """Claim ``key`` for this request, or return the stored response, or refuse (422/409)."""
    stmt = _RESERVE[session.get_bind().dialect.name]
    new_id = session.execute(stmt, {"scope": scope, "client_pk": client_pk, "key": key, "fingerprint": fingerprint,
                                    "at": now}).scalar_one_or_none()
    if new_id is not None:
        return Reserved(int(new_id))
    return _existing(session, scope=scope, key=key, fingerprint=fingerprint, now=now, stale_after=stale_after)


def _existing(session: Session, *, scope: str, key: str, fingerprint: str, now: dt.datetime,
              stale_after: dt.timedelta) -> Reserved | Replay:
    """The key is taken by a committed record: refuse (409 while in flight, whatever the body; 422 for
    another request), replay it, or take a stale reservation of the same request over."""
    row = session.execute(
        select(IdempotencyRecord.id, IdempotencyRecord.fingerprint, IdempotencyRecord.state,
               IdempotencyRecord.status_code, IdempotencyRecord.response_body, IdempotencyRecord.updated_at)
        .where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
    ).one()
    stale = row.updated_at <= now - stale_after
    if row.state != "done" and not stale:  # as the advisory lock answers on the redemption hot path
        raise KeyInFlight()
    if not hmac.compare_digest(row.fingerprint, fingerprint):
        raise KeyReused()
    if row.state == "done":
        return Replay(int(row.status_code), row.response_body or "")
    # A stale reservation of this same request (its worker died): take it over, unless another did first.
    taken = session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.id == row.id, IdempotencyRecord.state == "in_flight",
               IdempotencyRecord.updated_at == row.updated_at)
        .values(updated_at=now)
    ).rowcount
    if taken == 1:
        return Reserved(int(row.id))
    raise KeyInFlight()


def _lock_key(scope: str, key: str) -> int:
    """The advisory-lock id of (scope, key): 63 bits of a hash (a collision only costs a spurious 409)."""
    digest = hashlib.sha256(b"idempotency\x00" + scope.encode() + b"\x00" + key.encode("ascii")).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def _reserve_locked_statement():  # type: ignore[no-untyped-def]
    """PostgreSQL, one round trip: try the key's advisory lock; if we got it, insert the reservation."""
    table = IdempotencyRecord.__table__
    lock_id = bindparam("lock_id", type_=BigInteger())
    lock = select(func.pg_try_advisory_xact_lock(lock_id).label("got")).cte("key_lock")
    at = bindparam("at", type_=UTCDateTime())
    rows = select(bindparam("scope", type_=String()), bindparam("client_pk", type_=BigInteger()),
                  bindparam("key", type_=String()), bindparam("fingerprint", type_=String()), literal("in_flight"),
                  at, at).where(lock.c.got)
    inserted = (postgresql.insert(table)
                .from_select(["scope", "client_pk", "key", "fingerprint", "state", "created_at", "updated_at"], rows)
                .on_conflict_do_nothing(index_elements=["scope", "key"])
                .returning(table.c.id).cte("inserted"))
    return select(lock.c.got, select(inserted.c.id).scalar_subquery().label("id"))


_RESERVE_LOCKED = _reserve_locked_statement()


def reserve_in_transaction(session: Session, *, scope: str, client_pk: int | None, key: str, fingerprint: str,
                           now: dt.datetime, stale_after: dt.timedelta) -> Reserved | Replay:
    """Claim ``key`` inside the caller's (work) transaction; complete it there too, before the commit.

    Returns the stored response of a finished request (Replay), or raises 409
    (held by a running request or a fresh in-flight record) or 422 (another
    body). The reservation disappears with a rollback: a refusal that should
    be replayed is stored afterwards by :func:`store_refusal`.
    """
    if session.get_bind().dialect.name != "postgresql":  # one writer at a time: no one else can be running
        return reserve(session, scope=scope, client_pk=client_pk, key=key, fingerprint=fingerprint, now=now,
                       stale_after=stale_after)
    got, new_id = hot_sql.rows(session, _RESERVE_LOCKED, {
        "lock_id": _lock_key(scope, key), "scope": scope, "client_pk": client_pk, "key": key,
        "fingerprint": fingerprint, "at": now})[0]
    if not got:
        raise KeyInFlight()
    if new_id is not None:
        return Reserved(int(new_id))
    return _existing(session, scope=scope, key=key, fingerprint=fingerprint, now=now, stale_after=stale_after)


def store_refusal(session: Session, *, scope: str, client_pk: int | None, key: str, fingerprint: str,
                  now: dt.datetime, stale_after: dt.timedelta, status: int, body: str) -> bool:
    """After a rolled-back attempt: store its refusal for replays, unless the key has meanwhile been
    answered or taken by another request (then that one's answer stands). True if stored."""
    try:
        reserved = reserve_in_transaction(session, scope=scope, client_pk=client_pk, key=key, fingerprint=fingerprint,
                                          now=now, stale_after=stale_after)
    except (KeyInFlight, KeyReused):
        return False
    if not isinstance(reserved, Reserved):
        return False
    complete(session, reserved.record_id, status=status, body=body, now=now)
    return True


_RECORDS = IdempotencyRecord.__table__
_COMPLETE = (update(_RECORDS)  # a Core statement on the table: no ORM bulk-update machinery per request
             .where(_RECORDS.c.id == bindparam("rid"), _RECORDS.c.state == "in_flight")
             .values(state="done", status_code=bindparam("status"), response_body=bindparam("body"),
                     updated_at=bindparam("at", type_=UTCDateTime())))


def complete(session: Session, record_id: int, *, status: int, body: str, now: dt.datetime) -> None:
    """Store the response; call inside the transaction of the work itself."""
    done = hot_sql.execute(session, _COMPLETE, {"rid": record_id, "status": status, "body": body, "at": now})
    if done != 1:  # taken over as stale by another worker: let that one answer
        raise KeyInFlight()


def release(session: Session, record_id: int, reserved_at: dt.datetime) -> None:
    """Forget an in-flight reservation whose request produced no storable answer (429, 503...).

    Only while it is still ours: ``reserved_at`` is when we reserved it (or took it over); a worker that
    took it over since as stale stamped its own time, and its reservation is left alone.
    """
    session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id,
                                                    IdempotencyRecord.state == "in_flight",
                                                    IdempotencyRecord.updated_at == reserved_at))

