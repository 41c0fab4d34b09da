"""Work deferred to the end of a transaction, run in a fixed order at commit.

Rows every writer touches (the shared ledger balances such as
``voucher_liability``, the head of the audit chain) are locked only here,
right before COMMIT, so they are held for milliseconds instead of for the
whole transaction. The fixed order (ascending ``priority``) is the global lock
order: per-party rows are locked earlier, during the transaction; new rows
nobody reads back (:func:`insert_at_commit`, priority 5) lock nothing
contended; shared balances at commit (priority 10); the audit chain last
(priority 20). No writer waits for a lock it could be holding up in a cycle.
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Executable

from vouchers.storage import hot_sql

_KEY = "commit_hooks"
_STATE = "commit_hook_state"
NEW_ROWS = 5
SHARED_BALANCES = 10
AUDIT_CHAIN = 20
_ROWS = "rows"
# Hooks that only send statements and never read a result back: on PostgreSQL (psycopg) a commit whose
# hooks are all of these sends them in ONE round trip (pipeline mode), so the shared rows and the audit
# chain lock they take are held for server time, not for round trips to a Python process that may be
# waiting for the GIL or a CPU (the convoy that capped redemptions at ~80/s).
PIPELINE_SAFE = frozenset({_ROWS, "ledger-shared-balances", "audit"})


def at_commit(session: Session, priority: int, name: str, hook: Callable[[Session], None]) -> None:
    """Run ``hook(session)`` once before this transaction commits (one hook per name)."""
    session.info.setdefault(_KEY, {})[(priority, name)] = hook


def state(session: Session, name: str, factory: Callable[[], object]):
    """Per-transaction scratch space for hooks; dropped at commit and rollback."""
    return session.info.setdefault(_STATE, {}).setdefault(name, factory())


def insert_at_commit(session: Session, statement: Executable, params: dict[str, Any]) -> None:
    """Execute an INSERT whose result nobody reads (no RETURNING) with the commit-time statements.

    PostgreSQL: queued and sent at commit, first (the rows are new: they lock
    nothing another writer waits for), in the same round trip as the shared
    balances and the audit event; a constraint violation is raised by the
    commit. Other databases: executed at once. Nothing in the transaction may
    read the row before the commit.
    """
    if session.get_bind().dialect.name != "postgresql":
        session.execute(statement, params)
        return
    state(session, _ROWS, list).append((statement, params))
    at_commit(session, NEW_ROWS, _ROWS, _insert_rows)


def _insert_rows(session: Session) -> None:
    for statement, params in state(session, _ROWS, list):
        hot_sql.execute(session, statement, params)


@event.listens_for(Session, "before_commit")
def _run_hooks(session: Session) -> None:
    if session.in_nested_transaction():  # a SAVEPOINT released (:func:`savepoint`): the work waits for COMMIT
        return
    hooks = session.info.pop(_KEY, None)
    if not hooks:
        return
    session.flush()
    with _pipeline(session, all(name in PIPELINE_SAFE for _, name in hooks)):
        for key in sorted(hooks):
            hooks[key](session)
    session.flush()
    session.info.pop(_STATE, None)


def _pipeline(session: Session, safe: bool):  # type: ignore[no-untyped-def]
    """psycopg pipeline mode around the hooks' statements (else nothing)."""
    if not safe or session.get_bind().dialect.driver != "psycopg":
        return nullcontext()
    return _Pipelined(session.connection().connection.driver_connection)


class _Pipelined:
    """``connection.pipeline()``; an error the server reports when the pipeline is flushed is raised as
    SQLAlchemy's wrapper (so retries on deadlock / serialization failure see the SQLSTATE as usual)."""

    def __init__(self, driver_connection) -> None:  # type: ignore[no-untyped-def]
        self._pipeline = driver_connection.pipeline()

    def __enter__(self) -> None:
        self._pipeline.__enter__()

    def __exit__(self, *exc_info) -> None:  # type: ignore[no-untyped-def]
        import psycopg

        try:
            self._pipeline.__exit__(*exc_info)
        except psycopg.Error as e:
            if exc_info[1] is not None:
                raise
            raise exc.DBAPIError.instance(None, None, e, psycopg.Error) from e


_SAVEPOINTS = "commit_hook_savepoints"


@event.listens_for(Session, "after_rollback")
def _drop_hooks(session: Session) -> None:
    """A real rollback forgets the transaction's commit-time work. SQLAlchemy also calls this for the
    rollback of a SAVEPOINT (``begin_nested``): the enclosing transaction goes on and will commit, so only
    the work queued inside the savepoint is forgotten (the snapshot taken when it began), never what was
    queued before it (shared balance deltas, audit events of work that stands)."""
    if session.in_nested_transaction():  # the savepoint being rolled back is still the current one here
        snapshot = session.info.get(_SAVEPOINTS, {}).pop(id(session.get_nested_transaction()), None)
        if snapshot is not None:
            session.info[_KEY], session.info[_STATE] = snapshot
        return
    session.info.pop(_KEY, None)
    session.info.pop(_STATE, None)
    session.info.pop(_SAVEPOINTS, None)


@event.listens_for(Session, "after_transaction_create")
def _snapshot_at_savepoint(session: Session, transaction: Any) -> None:
    if transaction.nested:
        session.info.setdefault(_SAVEPOINTS, {})[id(transaction)] = (
            dict(session.info.get(_KEY, {})),
            {name: copy.copy(value) for name, value in session.info.get(_STATE, {}).items()})


@event.listens_for(Session, "after_transaction_end")
def _forget_savepoint(session: Session, transaction: Any) -> None:
    if transaction.nested:
        session.info.get(_SAVEPOINTS, {}).pop(id(transaction), None)


@contextmanager
def savepoint(session: Session) -> Iterator[None]:
    """A SAVEPOINT whose rollback also forgets the commit-time work queued inside it.

    For work that may be refused while the transaction around it must still commit (a refused
    redemption keeps its counted attempt, its fraud alert and its stored refusal). The rollback's
    forgetting is the generic one every SAVEPOINT gets (:func:`_snapshot_at_savepoint`, :func:`_drop_hooks`).
    """
    nested = session.begin_nested()
    # SQLAlchemy emits the SAVEPOINT lazily, when the nested transaction first asks for its connection;
    # emit it now, so no statement of the block can run before it (hot_sql, driver cursors).
    session.connection()
    try:
        yield
    except BaseException:
        if nested.is_active:
            nested.rollback()
        raise
    nested.commit()
