"""Checkpoints against the stored chain: a rewrite with a recomputed chain, or a truncation, is caught."""
from __future__ import annotations

import datetime as dt

from vouchers.storage.audit import GENESIS, record, verify_chain
from vouchers.storage.audit_checkpoint import Checkpoint, chain_head, compare
from tests.audit_forgery import rewrite_and_rechain, truncate_from

AT = dt.datetime(2026, 11, 26, 2, 0, tzinfo=dt.timezone.utc)


def _events(sessions, n: int) -> None:
    for i in range(n):
        with sessions.begin() as s:
            record(s, now=AT, actor="alice", action="batch.create", subject_type="batch", subject_id=f"B{i}",
                   to_state="draft")


def _head(sessions) -> Checkpoint:
    with sessions.begin() as s:
        return chain_head(s, AT)


def _problems(sessions, point: Checkpoint) -> tuple[list, list[str]]:
    with sessions.begin() as s:
        return list(verify_chain(s)), compare(s, point)


def test_head_of_an_empty_and_a_growing_chain(sessions):
    assert _head(sessions) == Checkpoint(0, GENESIS, 0, AT)
    assert _problems(sessions, _head(sessions)) == ([], [])
    _events(sessions, 3)
    head = _head(sessions)
    assert head.events == 3 and head.hash != GENESIS
    _events(sessions, 2)
    assert _problems(sessions, head) == ([], [])  # newer events leave an old checkpoint valid


def test_rewrite_with_a_recomputed_chain_is_caught(sessions, engine):
    _events(sessions, 3)
    point = _head(sessions)
    _events(sessions, 1)
    rewrite_and_rechain(engine, 2, actor="mallory")
    chain, problems = _problems(sessions, point)
    assert chain == []  # the chain alone is fooled
    assert len(problems) == 1 and problems[0].startswith(f"event {point.event_id} has hash ")
    assert "rewritten" in problems[0]


def test_truncation_at_or_before_the_checkpoint_is_caught(sessions, engine):
    _events(sessions, 3)
    early = _head(sessions)
    _events(sessions, 2)
    late = _head(sessions)
    truncate_from(engine, late.event_id)  # only after `early`: the later checkpoint sees it
    assert _problems(sessions, early) == ([], [])
    chain, problems = _problems(sessions, late)
    assert chain == [] and problems == [
        f"event {late.event_id} is missing (deleted or truncated since the checkpoint of {AT.isoformat()}, "
        f"which recorded it as the newest of 5 events)"]
    truncate_from(engine, early.event_id - 1)
    chain, problems = _problems(sessions, early)
    assert chain == [] and len(problems) == 1 and f"event {early.event_id} is missing" in problems[0]


def test_a_deleted_event_before_the_checkpoint_changes_the_count(sessions, engine):
    _events(sessions, 3)
    point = _head(sessions)
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM audit_events WHERE id = (SELECT min(id) FROM audit_events)")
    rewrite_and_rechain(engine)  # relink what is left
    chain, problems = _problems(sessions, point)
    assert chain == [] and any("2 events up to event" in p and "recorded 3" in p for p in problems), problems
