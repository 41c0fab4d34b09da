from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from vouchers.storage.retention import purge
from vouchers.storage.api_models import IdempotencyRecord


def _record(key: str, state: str, at: dt.datetime) -> IdempotencyRecord:
    return IdempotencyRecord(scope="web", key=key, fingerprint="f" * 64, state=state,
                             status_code=201 if state == "done" else None,
                             response_body="{}" if state == "done" else None, created_at=at, updated_at=at)


def test_purge_keeps_in_flight_and_recent_records(sessions, now):
    old = now - dt.timedelta(days=8)
    with sessions.begin() as s:
        s.add_all([_record(f"old-{i}", "done", old) for i in range(5)])
        s.add(_record("old-in-flight", "in_flight", now - dt.timedelta(days=30)))
        s.add(_record("recent", "done", now - dt.timedelta(days=6, hours=23)))
        # started long ago but finished recently: its replay guarantee runs from the finish
        late = _record("finished-late", "done", old)
        late.updated_at = now - dt.timedelta(days=1)
        s.add(late)
    batches: list[int] = []
    assert purge(sessions, now=now, older_than_days=7, batch_size=2, on_batch=batches.append) == 5
    assert batches == [2, 2, 1]
    with sessions.begin() as s:
        left = set(s.execute(select(IdempotencyRecord.key)).scalars())
    assert left == {"old-in-flight", "recent", "finished-late"}
    assert purge(sessions, now=now, older_than_days=7) == 0
    assert purge(sessions, now=now, older_than_days=1) == 1  # "recent" now falls out; in-flight never
    with pytest.raises(ValueError):
        purge(sessions, now=now, older_than_days=0)

