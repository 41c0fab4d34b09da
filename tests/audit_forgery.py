"""What an insider with write access to the database can do to the audit log unseen by the chain alone."""
from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select, update

from vouchers.storage.audit import GENESIS, _digest
from vouchers.storage.models import AuditEvent

T = AuditEvent.__table__


def rewrite_and_rechain(engine: Engine, event_id: int = 0, **changes: Any) -> None:
    """Edit one event (if ``changes``), then recompute every ``prev_hash`` and ``hash`` so the chain verifies again."""
    with engine.begin() as conn:
        if changes:
            conn.execute(update(T).where(T.c.id == event_id).values(**changes))
        prev = GENESIS
        for e in conn.execute(select(T).order_by(T.c.id)).all():
            digest = _digest(prev, e.at, e.actor, e.action, e.subject_type, e.subject_id, e.from_state, e.to_state,
                             e.reason, e.details)
            conn.execute(update(T).where(T.c.id == e.id).values(prev_hash=prev, hash=digest))
            prev = digest


def truncate_from(engine: Engine, event_id: int) -> None:
    """Delete the newest events down to ``event_id`` (included): what is left still chains from genesis."""
    with engine.begin() as conn:
        conn.execute(T.delete().where(T.c.id >= event_id))
