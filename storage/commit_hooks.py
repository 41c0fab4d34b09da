"""Work deferred to the end of a transaction, run in a fixed order at commit.

Rows every writer touches (the shared ledger balances such as
``voucher_liability``, the head of the audit chain) are locked only here,
right before COMMIT, so they are held for milliseconds instead of for the
whole transaction. The fixed order (ascending ``priority``) is the global lock
order: per-party rows are locked earlier, during the transaction; shared
balances at commit (priority 10); the audit chain last (priority 20). No
writer waits for a lock it could be holding up in a cycle.
"""
from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session

_KEY = "commit_hooks"
_STATE = "commit_hook_state"
SHARED_BALANCES = 10
AUDIT_CHAIN = 20


def at_commit(session: Session, priority: int, name: str, hook: Callable[[Session], None]) -> None:
    """Run ``hook(session)`` once before this transaction commits (one hook per name)."""
    session.info.setdefault(_KEY, {})[(priority, name)] = hook


def state(session: Session, name: str, factory: Callable[[], object]):
    """Per-transaction scratch space for hooks; dropped at commit and rollback."""
    return session.info.setdefault(_STATE, {}).setdefault(name, factory())


@event.listens_for(Session, "before_commit")
def _run_hooks(session: Session) -> None:
    hooks = session.info.pop(_KEY, None)
    if not hooks:
        return
    session.flush()
    for key in sorted(hooks):
        hooks[key](session)
    session.flush()
    session.info.pop(_STATE, None)


@event.listens_for(Session, "after_rollback")
def _drop_hooks(session: Session) -> None:
    session.info.pop(_KEY, None)
    session.info.pop(_STATE, None)
