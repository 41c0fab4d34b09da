"""Append-only, hash-chained audit events (who, when, what, from -> to, why)."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, insert, select, text
from sqlalchemy.orm import Session

from vouchers.storage import hot_sql
from vouchers.storage.commit_hooks import AUDIT_CHAIN, at_commit, state
from vouchers.storage.models import AuditEvent
from vouchers.storage.types import UTCDateTime
from vouchers.text import ACTOR_MAX, REASON_MAX, check_text

GENESIS = "0" * 64
_AUDIT_LOCK = 0x5641_5544  # "VAUD"
_QUEUE = "audit_events_queued"
# Built once: an audit event is written by every redemption.
_HEAD = select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
_INSERT = insert(AuditEvent.__table__)
_LOCK = text("SELECT pg_advisory_xact_lock(:k)")
# PostgreSQL: prev_hash = the head as this statement sees it (after the lock), hash computed in SQL.
_INSERT_CHAINED = text(
    "INSERT INTO audit_events (at, actor, action, subject_type, subject_id, from_state, to_state, reason, "
    "details, prev_hash, hash) "
    "SELECT :at, :actor, :action, :subject_type, :subject_id, :from_state, :to_state, :reason, :details, "
    "head.prev, encode(sha256(convert_to('[\"' || head.prev || '\",' || CAST(:tail AS text), 'UTF8')), 'hex') "
    "FROM (SELECT coalesce((SELECT hash FROM audit_events ORDER BY id DESC LIMIT 1), :genesis) AS prev) AS head"
).bindparams(bindparam("at", type_=UTCDateTime()), bindparam("genesis", value=GENESIS))


def _tail(at: dt.datetime, actor: str, action: str, subject_type: str, subject_id: str,
          from_state: str | None, to_state: str | None, reason: str | None, details: str | None) -> str:
    """The canonical JSON of an event after its ``prev_hash``: ``'"<at>","<actor>",...]'``."""
    utc = at.replace(tzinfo=dt.timezone.utc) if at.tzinfo is None else at.astimezone(dt.timezone.utc)
    return json.dumps([utc.isoformat(), actor, action, subject_type, subject_id, from_state, to_state, reason,
                       details], ensure_ascii=False, separators=(",", ":"))[1:]


def _digest(prev_hash: str, at: dt.datetime, actor: str, action: str, subject_type: str, subject_id: str,
            from_state: str | None, to_state: str | None, reason: str | None, details: str | None) -> str:
    """SHA-256 of the canonical JSON ``[prev_hash, at, actor, action, ...]`` (prev_hash is plain hex,
    so ``'["' + prev_hash + '",' + tail`` is exactly that JSON; PostgreSQL computes it the same way)."""
    tail = _tail(at, actor, action, subject_type, subject_id, from_state, to_state, reason, details)
    return hashlib.sha256(('["' + prev_hash + '",' + tail).encode("utf-8")).hexdigest()


def record(session: Session, *, now: dt.datetime, actor: str, action: str, subject_type: str, subject_id: str,
           from_state: str | None = None, to_state: str | None = None, reason: str | None = None,
           details: dict[str, Any] | None = None) -> None:
    """Append one event chained to the newest one. Never pass secrets in ``details``.

    On PostgreSQL the event is written at commit (``storage.commit_hooks``),
    under a transaction-scoped advisory lock that serialises chain writers so
    two transactions never chain to the same predecessor; the lock is held
    only for the commit itself. SQLite has one writer: written at once.
    ``actor`` and ``reason`` must follow the free-text rule (:mod:`vouchers.text`),
    else :class:`vouchers.text.InvalidText`: no event can forge a line of a listing.
    """
    check_text(actor, "actor", ACTOR_MAX)
    if reason is not None:
        check_text(reason, "reason", REASON_MAX)
    event = {"at": now, "actor": actor, "action": action, "subject_type": subject_type, "subject_id": subject_id,
             "from_state": from_state, "to_state": to_state, "reason": reason,
             "details": json.dumps(details, ensure_ascii=False, sort_keys=True) if details else None}
    if session.get_bind().dialect.name != "postgresql":
        _append(session, [event])
        return
    state(session, _QUEUE, list).append(event)
    at_commit(session, AUDIT_CHAIN, "audit", _write_queued)


def _write_queued(session: Session) -> None:
    """PostgreSQL, at commit: take the chain lock, then append each event chained to the head.

    The hash is computed by the server (``sha256`` over the same canonical JSON),
    from the head read by each INSERT itself: every statement after the lock
    sees the newest committed event, or our own previous one. No statement
    returns anything, so the commit hooks can send them all in one round trip
    (``storage.commit_hooks``): the lock is held for server time, not for
    round trips to a busy Python process.
    """
    events = state(session, _QUEUE, list)
    if events:
        hot_sql.execute(session, _LOCK, {"k": _AUDIT_LOCK})
        for e in events:  # in order: each INSERT chains to the one before
            hot_sql.execute(session, _INSERT_CHAINED, {**e, "tail": _tail(
                e["at"], e["actor"], e["action"], e["subject_type"], e["subject_id"], e["from_state"],
                e["to_state"], e["reason"], e["details"])})


def _append(session: Session, events: list[dict[str, Any]]) -> None:
    prev_hash = session.execute(_HEAD).scalar() or GENESIS
    rows = []
    for e in events:
        digest = _digest(prev_hash, e["at"], e["actor"], e["action"], e["subject_type"], e["subject_id"],
                         e["from_state"], e["to_state"], e["reason"], e["details"])
        rows.append({**e, "prev_hash": prev_hash, "hash": digest})
        prev_hash = digest
    # one statement; rows get ascending ids in list order (the chain order)
    session.execute(_INSERT, rows[0] if len(rows) == 1 else rows)


@dataclass(frozen=True)
class ChainProblem:
    event_id: int
    problem: str


def verify_chain(session: Session) -> Iterator[ChainProblem]:
    """Yield every break in the chain: edited, inserted or deleted events."""
    prev_hash = GENESIS
    for event in session.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars():
        if event.prev_hash != prev_hash:
            yield ChainProblem(event.id, "does not link to the previous event (deleted, inserted or forked)")
        expected = _digest(event.prev_hash, event.at, event.actor, event.action, event.subject_type,
                           event.subject_id, event.from_state, event.to_state, event.reason, event.details)
        if expected != event.hash:
            yield ChainProblem(event.id, "content does not match its hash (edited)")
        prev_hash = event.hash
