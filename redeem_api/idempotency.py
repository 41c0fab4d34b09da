"""Idempotency-Key records (IETF draft "The Idempotency-Key HTTP Header Field").

A key is reserved *in flight* in its own short transaction, so a second
request with the same key sees it at once: another body -> 422, still in
flight -> 409. The stored response is written in the SAME transaction as the
work it describes, so a crash leaves either both or neither. A reservation
whose worker died is taken over once it is older than ``stale_after``.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from redeem_api.errors import IdempotencyInFlight, IdempotencyKeyRequired, IdempotencyKeyReused, InvalidIdempotencyKey
from storage.api_models import IdempotencyRecord
from storage.types import UTCDateTime

MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Reserved:
    record_id: int


@dataclass(frozen=True)
class Replay:
    status: int
    body: str


def parse_key(header: str | None) -> str:
    """The key from the header: 1..255 visible ASCII characters; an sf-string's quotes are dropped."""
    if header is None or header.strip() == "":
        raise IdempotencyKeyRequired("the Idempotency-Key header is required for this request")
    key = header.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not (1 <= len(key) <= MAX_KEY_LENGTH) or not all("\x21" <= ch <= "\x7e" for ch in key):
        raise InvalidIdempotencyKey(f"Idempotency-Key must be 1..{MAX_KEY_LENGTH} visible ASCII characters")
    return key


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
    row = session.execute(
        select(IdempotencyRecord.id, IdempotencyRecord.fingerprint, IdempotencyRecord.state,
               IdempotencyRecord.status_code, IdempotencyRecord.response_body, IdempotencyRecord.updated_at)
        .where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
    ).one()
    if not hmac.compare_digest(row.fingerprint, fingerprint):
        raise IdempotencyKeyReused("this Idempotency-Key was already used with another request: use a new key")
    if row.state == "done":
        return Replay(int(row.status_code), row.response_body or "")
    if row.updated_at <= now - stale_after:
        taken = session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.id == row.id, IdempotencyRecord.state == "in_flight",
                   IdempotencyRecord.updated_at == row.updated_at)
            .values(updated_at=now)
        ).rowcount
        if taken == 1:
            return Reserved(int(row.id))
    raise IdempotencyInFlight("a request with this Idempotency-Key is still being processed: retry shortly",
                              headers={"Retry-After": "1"})


_COMPLETE = (update(IdempotencyRecord)
             .where(IdempotencyRecord.id == bindparam("rid"), IdempotencyRecord.state == "in_flight")
             .values(state="done", status_code=bindparam("status"), response_body=bindparam("body"),
                     updated_at=bindparam("at", type_=UTCDateTime())))


def complete(session: Session, record_id: int, *, status: int, body: str, now: dt.datetime) -> None:
    """Store the response; call inside the transaction of the work itself."""
    done = session.execute(_COMPLETE, {"rid": record_id, "status": status, "body": body, "at": now}).rowcount
    if done != 1:  # taken over as stale by another worker: let that one answer
        raise IdempotencyInFlight("a request with this Idempotency-Key is still being processed: retry shortly",
                                  headers={"Retry-After": "1"})


def release(session: Session, record_id: int) -> None:
    """Forget an in-flight reservation whose request produced no storable answer (429, 503...)."""
    session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id,
                                                    IdempotencyRecord.state == "in_flight"))


def purge(session: Session, *, older_than: dt.datetime) -> int:
    """Delete finished records created before ``older_than`` (keys are kept at least a day)."""
    return session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < older_than,
                                                           IdempotencyRecord.state == "done")).rowcount
