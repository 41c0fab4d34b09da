"""Signed checkpoints of the audit chain's head, to be kept outside the database.

The hash chain alone proves nothing against someone who can write the table:
they edit an event and recompute every hash after it, or delete the newest
events. A checkpoint - the newest event's id and hash, the event count and the
time, signed with the audit-checkpoint key (``keystore.audit_key``) and kept
elsewhere - pins the chain up to that event: a rewrite or a truncation at or
before it removes that event or changes its hash (each hash covers all before).
The chain format of the events is unchanged.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vouchers.storage.audit import GENESIS
from vouchers.storage.models import AuditEvent

FORMAT = "voucher-audit-checkpoint-v1"
_FIELDS = {"format", "event_id", "hash", "events", "at", "public_key", "signature"}
_HEX64 = re.compile(r"[0-9a-f]{64}")
# One statement, so the head and the count come from one snapshot.
_HEAD = select(AuditEvent.id, AuditEvent.hash, select(func.count()).select_from(AuditEvent).scalar_subquery()) \
    .order_by(AuditEvent.id.desc()).limit(1)


class InvalidCheckpoint(Exception):
    """Not a checkpoint, altered, forged, or signed by another key (one error for all)."""


@dataclass(frozen=True)
class Checkpoint:
    """The chain head at a moment: newest event id (0: empty chain), its hash, the event count."""

    event_id: int
    hash: str
    events: int
    at: dt.datetime


def chain_head(session: Session, now: dt.datetime) -> Checkpoint:
    row = session.execute(_HEAD).first()
    if row is None:
        return Checkpoint(0, GENESIS, 0, now)
    return Checkpoint(row[0], row[1], row[2], now)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _public_raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _signed_bytes(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def sign(checkpoint: Checkpoint, key: Ed25519PrivateKey) -> dict[str, Any]:
    """The checkpoint document: its fields, the signer's public key and an Ed25519 signature over both."""
    body: dict[str, Any] = {
        "format": FORMAT, "event_id": checkpoint.event_id, "hash": checkpoint.hash, "events": checkpoint.events,
        "at": checkpoint.at.astimezone(dt.timezone.utc).isoformat(), "public_key": _b64(_public_raw(key.public_key())),
    }
    return {**body, "signature": _b64(key.sign(_signed_bytes(body)))}


def verify(document: object, trusted: Ed25519PublicKey) -> Checkpoint:
    """The checkpoint in ``document`` if ``trusted`` signed it exactly; else InvalidCheckpoint."""
    if not isinstance(document, dict) or set(document) != _FIELDS or document["format"] != FORMAT:
        raise InvalidCheckpoint(f"not a {FORMAT} document")
    body = {k: v for k, v in document.items() if k != "signature"}
    try:
        if _unb64(document["public_key"]) != _public_raw(trusted):
            raise InvalidCheckpoint("signed by another key than this key store's audit-checkpoint key")
        trusted.verify(_unb64(document["signature"]), _signed_bytes(body))
    except (InvalidSignature, binascii.Error, ValueError, TypeError) as e:
        raise InvalidCheckpoint("signature does not match its content (the checkpoint was altered or forged)") from e
    event_id, events, digest = document["event_id"], document["events"], document["hash"]
    if not all(type(n) is int and n >= 0 for n in (event_id, events)) or not isinstance(digest, str) \
            or not _HEX64.fullmatch(digest):
        raise InvalidCheckpoint("malformed fields")  # signed by us, so never expected
    try:
        at = dt.datetime.fromisoformat(document["at"])
    except (TypeError, ValueError) as e:
        raise InvalidCheckpoint("malformed time") from e
    return Checkpoint(event_id, digest, events, at)


def compare(session: Session, checkpoint: Checkpoint) -> list[str]:
    """How the stored chain departs from ``checkpoint`` (empty: it still holds those events unchanged)."""
    if checkpoint.event_id == 0:
        return []
    stored = session.execute(select(AuditEvent.hash).where(AuditEvent.id == checkpoint.event_id)).scalar()
    when = checkpoint.at.isoformat()
    if stored is None:
        return [f"event {checkpoint.event_id} is missing (deleted or truncated since the checkpoint of {when}, "
                f"which recorded it as the newest of {checkpoint.events} events)"]
    problems = []
    if stored != checkpoint.hash:
        problems.append(f"event {checkpoint.event_id} has hash {stored[:16]}..., the checkpoint of {when} "
                        f"recorded {checkpoint.hash[:16]}... (it or an earlier event was rewritten)")
    count = session.execute(select(func.count()).select_from(AuditEvent)
                            .where(AuditEvent.id <= checkpoint.event_id)).scalar_one()
    if count != checkpoint.events:
        problems.append(f"{count} events up to event {checkpoint.event_id}, the checkpoint of {when} recorded "
                        f"{checkpoint.events} (events deleted or inserted)")
    return problems
