"""A SAVEPOINT rolled back inside a transaction that goes on (a fraud case opened by a concurrent writer, a
refused redemption) forgets only the commit-time work queued inside it, never the work queued before it.

Before: SQLAlchemy's after_rollback event also fires for a savepoint, and the hooks were dropped wholesale,
so a redemption whose fraud alert hit a concurrent case insert committed its postings without its shared
balance deltas (the failover drill's `ledger verify` found the liability row one card off)."""
from __future__ import annotations

from sqlalchemy import text

from vouchers.storage.commit_hooks import at_commit, state


def _queue(session, name: str, ran: list[str]) -> None:
    state(session, "log", list).append(name)
    at_commit(session, 10, name, lambda s: ran.append(name))


def test_a_savepoint_rollback_keeps_the_work_queued_before_it(sessions):
    ran: list[str] = []
    with sessions.begin() as session:
        session.execute(text("SELECT 1"))
        _queue(session, "before", ran)
        nested = session.begin_nested()
        _queue(session, "inside", ran)
        nested.rollback()
        _queue(session, "after", ran)
        assert state(session, "log", list) == ["before", "after"]
    assert sorted(ran) == ["after", "before"]


def test_a_context_manager_savepoint_that_fails_keeps_the_earlier_work(sessions):
    ran: list[str] = []
    with sessions.begin() as session:
        session.execute(text("SELECT 1"))
        _queue(session, "before", ran)
        try:
            with session.begin_nested():
                _queue(session, "inside", ran)
                raise RuntimeError("refused")
        except RuntimeError:
            pass
    assert ran == ["before"]


def test_a_real_rollback_still_forgets_everything(sessions):
    ran: list[str] = []
    session = sessions()
    session.begin()
    session.execute(text("SELECT 1"))
    _queue(session, "doomed", ran)
    session.rollback()
    with session.begin():
        session.execute(text("SELECT 1"))
    session.close()
    assert ran == []
