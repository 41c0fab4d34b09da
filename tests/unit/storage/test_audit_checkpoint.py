"""Checkpoint documents: signed by the audit-checkpoint key, refused on any change (no database)."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from vouchers.storage.audit_checkpoint import Checkpoint, InvalidCheckpoint, sign, verify

AT = dt.datetime(2026, 11, 26, 2, 0, tzinfo=dt.timezone.utc)
POINT = Checkpoint(42, "ab" * 32, 41, AT)
KEY = Ed25519PrivateKey.generate()


def test_round_trip_through_json():
    document = json.loads(json.dumps(sign(POINT, KEY)))
    assert document["format"] == "voucher-audit-checkpoint-v1"
    assert (document["event_id"], document["hash"], document["events"]) == (42, "ab" * 32, 41)
    assert verify(document, KEY.public_key()) == POINT


@pytest.mark.parametrize("field, value", [
    ("event_id", 41), ("event_id", 42.0), ("hash", "cd" * 32), ("events", 42), ("events", True),
    ("at", "2026-11-27T02:00:00+00:00"), ("format", "voucher-audit-checkpoint-v2"),
    ("signature", "A" * 86), ("public_key", "A" * 43),
])
def test_any_change_is_refused(field, value):
    document = {**sign(POINT, KEY), field: value}
    with pytest.raises(InvalidCheckpoint):
        verify(document, KEY.public_key())


def test_a_checkpoint_signed_by_another_key_is_refused():
    forger = Ed25519PrivateKey.generate()
    own = sign(Checkpoint(42, "cd" * 32, 41, AT), forger)
    with pytest.raises(InvalidCheckpoint, match="another key"):
        verify(own, KEY.public_key())
    claimed = {**own, "public_key": sign(POINT, KEY)["public_key"]}  # names our key, signed by theirs
    with pytest.raises(InvalidCheckpoint, match="altered or forged"):
        verify(claimed, KEY.public_key())


@pytest.mark.parametrize("document", [None, [], "x", {}, {**sign(POINT, KEY), "extra": 1},
                                      {k: v for k, v in sign(POINT, KEY).items() if k != "signature"}])
def test_not_a_checkpoint(document):
    with pytest.raises(InvalidCheckpoint):
        verify(document, KEY.public_key())
