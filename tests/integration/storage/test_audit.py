"""vouchers.storage.audit.record: the last guard against forged audit lines, whoever the caller (both databases)."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from vouchers.storage import audit
from vouchers.storage.models import AuditEvent
from vouchers.text import InvalidText


def _event(**overrides: object) -> dict:
    return {"actor": "alice", "action": "batch.void", "subject_type": "batch", "subject_id": "B01-000001",
            "reason": "stolen", **overrides}


@pytest.mark.parametrize("overrides, message", [
    ({"actor": "eve\nINFO fake"}, "actor must not contain control characters"),
    ({"actor": "x" * 101}, "actor must be at most 100 characters"),
    ({"reason": "x\ny"}, "reason must not contain control characters"),
    ({"reason": "x" * 501}, "reason must be at most 500 characters"),
], ids=["actor-newline", "actor-long", "reason-newline", "reason-long"])
def test_forged_actor_or_reason_is_refused_and_nothing_written(sessions, now, overrides, message):
    with pytest.raises(InvalidText, match=message), sessions.begin() as session:
        audit.record(session, now=now, **_event(**overrides))
    with sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_ordinary_event_is_written(sessions, now):
    with sessions.begin() as session:
        audit.record(session, now=now, **_event(actor="王五", reason=None))
    with sessions.begin() as session:
        assert session.scalars(select(AuditEvent.actor)).all() == ["王五"]
        assert list(audit.verify_chain(session)) == []
