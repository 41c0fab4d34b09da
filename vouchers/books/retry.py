"""Run a unit of work again when the database asks for it (deadlock, serialization failure).

Writers of the books lock in a fixed order, so deadlocks between them do not
happen; this is the belt to those braces for callers that combine several
services in one transaction.
"""
from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)
T = TypeVar("T")
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected


def is_retryable(error: BaseException) -> bool:
    if not isinstance(error, DBAPIError):
        return False
    orig = error.orig
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if state in RETRYABLE_SQLSTATES:
        return True
    return "database is locked" in str(orig)


def run_in_transaction(factory: sessionmaker[Session], work: Callable[[Session], T], *, attempts: int = 5,
                       base_delay: float = 0.02) -> T:
    """``work(session)`` in one transaction, retried on deadlock/serialization failure."""
    for attempt in range(1, attempts + 1):
        try:
            with factory() as session, session.begin():
                return work(session)
        except DBAPIError as e:
            if attempt == attempts or not is_retryable(e):
                raise
            log.warning("retrying after %s (attempt %d of %d)", type(e.orig).__name__, attempt, attempts)
            time.sleep(base_delay * (2 ** (attempt - 1)) * (0.5 + random.random()))
    raise AssertionError("unreachable")  # pragma: no cover
