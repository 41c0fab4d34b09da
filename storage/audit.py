"""Append-only, hash-chained audit events (who, when, what, from -> to, why)."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from storage.commit_hooks import AUDIT_CHAIN, at_commit, state
from storage.models import AuditEvent

GENESIS = "0" * 64
_AUDIT_LOCK = 0x5641_5544  # "VAUD"
_QUEUE = "audit_events_queued"


def _digest(prev_hash: str, at: dt.datetime, actor: str, action: str, subject_type: str, subject_id: str,
            from_state: str | None, to_state: str | None, reason: str | None, details: str | None) -> str:
    utc = at.replace(tzinfo=dt.timezone.utc) if at.tzinfo is None else at.astimezone(dt.timezone.utc)
    canonical = json.dumps(
        [prev_hash, utc.isoformat(), actor, action, subject_type, subject_id,
         from_state, to_state, reason, details],
        ensure_ascii=False, separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def record(session: Session, *, now: dt.datetime, actor: str, action: str, subject_type: str, subject_id: str,
           from_state: str | None = None, to_state: str | None = None, reason: str | None = None,
           details: dict[str, Any] | None = None) -> None:
    """Append one event chained to the newest one. Never pass secrets in ``details``.

    On PostgreSQL the event is written at commit (``storage.commit_hooks``),
    under a transaction-scoped advisory lock that serialises chain writers so
    two transactions never chain to the same predecessor; the lock is held
    only for the commit itself. SQLite has one writer: written at once.
    """
    event = {"at": now, "actor": actor, "action": action, "subject_type": subject_type, "subject_id": subject_id,
             "from_state": from_state, "to_state": to_state, "reason": reason,
             "details": json.dumps(details, ensure_ascii=False, sort_keys=True) if details else None}
    if session.get_bind().dialect.name != "postgresql":
        _append(session, [event])
        return
    state(session, _QUEUE, list).append(event)
    at_commit(session, AUDIT_CHAIN, "audit", _write_queued)


def _write_queued(session: Session) -> None:
    events = state(session, _QUEUE, list)
    if events:
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _AUDIT_LOCK})
        _append(session, events)


def _append(session: Session, events: list[dict[str, Any]]) -> None:
    prev = session.execute(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)).scalar()
    prev_hash = prev or GENESIS
    for e in events:
        digest = _digest(prev_hash, e["at"], e["actor"], e["action"], e["subject_type"], e["subject_id"],
                         e["from_state"], e["to_state"], e["reason"], e["details"])
        session.add(AuditEvent(**e, prev_hash=prev_hash, hash=digest))
        session.flush()
        prev_hash = digest


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
