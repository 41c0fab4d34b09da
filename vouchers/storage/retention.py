"""Purge finished Idempotency-Key records once their replay guarantee has run out.

A record answers replays for ``days`` after it finished (``updated_at``);
after that it is deleted, in batches of short transactions so the API's
hot path is never blocked for long. In-flight reservations are never
deleted, however old: :mod:`vouchers.services.idempotency` takes a stale one over.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from vouchers.storage.api_models import IdempotencyRecord

_T = IdempotencyRecord.__table__


def purge(sessions: sessionmaker[Session], *, now: dt.datetime, older_than_days: int, batch_size: int = 5000,
          on_batch: Callable[[int], None] = lambda n: None) -> int:
    """Delete finished records that finished more than ``older_than_days`` before ``now``; return how many."""
    if older_than_days < 1:
        raise ValueError("older_than_days must be at least 1")
    cutoff = now - dt.timedelta(days=older_than_days)
    # created_at <= updated_at, so the created_at bound only lets the index narrow the scan
    expired = (select(_T.c.id).where(_T.c.state == "done", _T.c.updated_at < cutoff, _T.c.created_at < cutoff)
               .order_by(_T.c.id).limit(batch_size))
    total = 0
    while True:
        with sessions.begin() as session:
            ids = list(session.execute(expired).scalars())
            # state re-checked: a record is never deleted unless it is finished
            deleted = session.execute(delete(_T).where(_T.c.id.in_(ids), _T.c.state == "done")).rowcount \
                if ids else 0
        total += deleted
        if deleted:
            on_batch(deleted)
        if len(ids) < batch_size:
            return total
