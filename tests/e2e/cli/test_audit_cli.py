"""The audit chain detects edited, inserted and deleted events."""
from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from .conftest import Cli


@pytest.fixture
def audited(cli: Cli) -> Cli:
    cli("init", check=True)
    cli("keys", "create", check=True)
    created = cli("batch", "create", "--face-value", "10", "--count", "2", "--expires", "2027-12-31",
                  "--operator", "alice", "--json", check=True).json()
    cli("batch", "approve", created["batch_id"], "--operator", "bob", check=True)
    cli("batch", "void", created["batch_id"], "--reason", "stolen", check=True)
    assert cli("audit", "verify", "--json", check=True).json() == {"events": 3, "ok": True, "problems": []}
    return cli


def _sql(db_url: str, statement: str) -> None:
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text(statement))
    engine.dispose()


@pytest.mark.parametrize("tamper", [
    "UPDATE audit_events SET actor = 'mallory' WHERE id = 2",
    "UPDATE audit_events SET reason = 'found again' WHERE id = 3",
    "DELETE FROM audit_events WHERE id = 2",
    "INSERT INTO audit_events (id, at, actor, action, subject_type, subject_id, prev_hash, hash) "
    "SELECT 99, at, 'mallory', 'batch.approved', subject_type, subject_id, prev_hash, 'f00' FROM audit_events WHERE id = 2",
], ids=["edit-actor", "edit-reason", "delete", "insert"])
def test_tampering_is_detected(audited, db_url, tamper):
    _sql(db_url, tamper)
    result = audited("audit", "verify")
    assert result.code != 0 and "audit chain broken" in result.err and result.err.count("\n") == 1


def test_list(audited):
    events = audited("audit", "list", "--json", check=True).json()["events"]
    assert [e["action"] for e in events] == ["batch.void", "batch.approved", "batch.create"]
    assert events[0]["reason"] == "stolen" and events[1]["actor"] == "bob"
