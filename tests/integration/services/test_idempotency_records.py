"""Idempotency records at the storage rule level: what `release` may delete and what `store_refusal` keeps.

Written for mutants that survived the 2026-12-07 mutation run (docs/testing.md): a `release` that forgot
its record id or its in-flight condition, and a `store_refusal` that dropped its client or staleness.
"""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from vouchers.services import idempotency
from vouchers.storage.api_models import ApiClient, IdempotencyRecord

STALE = dt.timedelta(seconds=120)


def args(key: str, client_pk: int | None = None) -> dict:
    return dict(scope="client:1", client_pk=client_pk, key=key, fingerprint="f" * 64, stale_after=STALE)


def records(sessions) -> dict[str, tuple[str, int | None]]:
    with sessions.begin() as s:
        rows = s.execute(select(IdempotencyRecord.key, IdempotencyRecord.state, IdempotencyRecord.client_pk))
        return {r.key: (r.state, r.client_pk) for r in rows}


def test_release_forgets_only_its_own_reservation(sessions, now):
    with sessions.begin() as s:
        mine = idempotency.reserve(s, now=now, **args("mine"))
        idempotency.reserve(s, now=now, **args("other"))
    with sessions.begin() as s:
        idempotency.release(s, mine.record_id, now)
    assert records(sessions) == {"other": ("in_flight", None)}


def test_release_never_deletes_an_answered_request(sessions, now):
    """A late release of a request that was answered meanwhile keeps the answer for its replays."""
    with sessions.begin() as s:
        reserved = idempotency.reserve(s, now=now, **args("answered"))
        idempotency.complete(s, reserved.record_id, status=201, body="{}", now=now)
    with sessions.begin() as s:
        idempotency.release(s, reserved.record_id, now)
    assert records(sessions) == {"answered": ("done", None)}


def test_a_stored_refusal_belongs_to_its_client(sessions, now):
    with sessions.begin() as s:
        client = ApiClient(client_id="till-1", name="till 1", role="terminal", key_hash=bytes(32), created_at=now)
        s.add(client)
        s.flush()
        client_pk = client.id
    with sessions.begin() as s:
        assert idempotency.store_refusal(s, now=now, status=422, body='{"error":1}', **args("refused", client_pk))
    assert records(sessions) == {"refused": ("done", client_pk)}
    with sessions.begin() as s:
        replay = idempotency.reserve(s, now=now, **args("refused", client_pk))
    assert replay == idempotency.Replay(422, '{"error":1}')


@pytest.mark.parametrize("age, stored", [(STALE - dt.timedelta(seconds=1), False), (STALE, True)])
def test_a_refusal_takes_over_only_a_stale_reservation(sessions, now, age, stored):
    """A fresh reservation of the same key belongs to a running request: its answer will stand. One whose
    worker died (older than stale_after) is taken over and answered with the refusal."""
    with sessions.begin() as s:
        idempotency.reserve(s, now=now - age, **args("k"))
    with sessions.begin() as s:
        assert idempotency.store_refusal(s, now=now, status=409, body="{}", **args("k")) is stored
    assert records(sessions) == {"k": ("done" if stored else "in_flight", None)}
