"""API clients: create (the key is shown once), list, revoke, authenticate.

A key is ``<client_id>.<secret>`` where the secret is 256 random bits
(base64url). Only SHA-256(secret) is stored - a fast hash is right for a
full-entropy secret - and it is compared with :func:`hmac.compare_digest`.
No Flask here: the CLI uses this module too.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from vouchers.storage import audit, hot_sql
from vouchers.storage.api_models import CLIENT_ROLES, ApiClient
from vouchers.errors import VoucherError

_CLIENT_ID = re.compile(r"c_[0-9a-f]{16}")
_SECRET = re.compile(r"[A-Za-z0-9_-]{43}")
_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,100}")
_DISTRIBUTOR = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_CLIENTS = ApiClient.__table__
# Every API request runs this: a Core statement on the table (no ORM compile step per call).
_BY_CLIENT_ID = (select(_CLIENTS.c.id, _CLIENTS.c.client_id, _CLIENTS.c.name, _CLIENTS.c.role, _CLIENTS.c.channel,
                        _CLIENTS.c.distributor_id, _CLIENTS.c.key_hash, _CLIENTS.c.revoked)
                 .where(_CLIENTS.c.client_id == bindparam("client_id")))
# A fixed digest compared when the client id is unknown, so both paths do the same work.
_DUMMY_HASH = hashlib.sha256(b"no such client").digest()


class ClientError(VoucherError):
    code = "client_error"


class InvalidClient(ClientError, ValueError):
    code = "invalid_client"


class ClientNotFound(ClientError):
    code = "client_not_found"


@dataclass(frozen=True)
class ClientInfo:
    """An authenticated caller, as the request handlers see it."""

    pk: int
    client_id: str
    name: str
    role: str
    channel: str | None
    distributor_id: str | None

    @property
    def actor(self) -> str:
        return f"api:{self.client_id}"


@dataclass(frozen=True)
class ClientRecord:
    client_id: str
    name: str
    role: str
    channel: str | None
    distributor_id: str | None
    revoked: bool
    created_at: dt.datetime
    revoked_at: dt.datetime | None

    def as_json(self) -> dict[str, object]:
        return {"client_id": self.client_id, "name": self.name, "role": self.role, "channel": self.channel,
                "distributor_id": self.distributor_id, "revoked": self.revoked,
                "created_at": self.created_at.isoformat(),
                "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None}

    @classmethod
    def of(cls, row: ApiClient) -> ClientRecord:
        return cls(row.client_id, row.name, row.role, row.channel, row.distributor_id, bool(row.revoked),
                   row.created_at, row.revoked_at)


def _secret_hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("ascii")).digest()


def split_key(api_key: str) -> tuple[str, str] | None:
    """``(client_id, secret)`` of a well-formed key, else None (never raises, never logs)."""
    if not isinstance(api_key, str) or len(api_key) > 100:
        return None
    client_id, sep, secret = api_key.partition(".")
    if not sep or not _CLIENT_ID.fullmatch(client_id) or not _SECRET.fullmatch(secret):
        return None
    return client_id, secret


def create_client(session: Session, *, name: str, role: str, channel: str | None = None,
                  distributor_id: str | None = None, now: dt.datetime, actor: str = "cli") -> tuple[ClientRecord, str]:
    """Store a new client; returns its record and the API key (shown once, never stored)."""
    name = (name or "").strip()
    if not _NAME.fullmatch(name):
        raise InvalidClient("name is required (1..100 printable characters)")
    if role not in CLIENT_ROLES:
        raise InvalidClient(f"role must be one of {', '.join(CLIENT_ROLES)}")
    if role == "channel":
        if not channel:
            raise InvalidClient("a channel client needs --channel (e.g. alipay, bank_counter)")
        from vouchers.books.channels import payment_channel  # the books own the channel registry

        try:
            payment_channel(channel)
        except VoucherError as e:
            raise InvalidClient(str(e)) from e
    elif channel:
        raise InvalidClient("--channel applies only to the channel role")
    if role == "distributor":
        if not distributor_id or not _DISTRIBUTOR.fullmatch(distributor_id):
            raise InvalidClient("a distributor client needs --distributor ID (letters, digits, _ . -)")
    elif distributor_id:
        raise InvalidClient("--distributor applies only to the distributor role")
    client_id = "c_" + secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    row = ApiClient(client_id=client_id, name=name, role=role, channel=channel, distributor_id=distributor_id,
                    key_hash=_secret_hash(secret), revoked=False, created_at=now, created_by=actor)
    session.add(row)
    session.flush()
    audit.record(session, now=now, actor=actor, action="api_client.create", subject_type="api_client",
                 subject_id=client_id, to_state="active",
                 details={"name": name, "role": role, "channel": channel, "distributor_id": distributor_id})
    return ClientRecord.of(row), f"{client_id}.{secret}"


def list_clients(session: Session) -> list[ClientRecord]:
    return [ClientRecord.of(r) for r in session.execute(select(ApiClient).order_by(ApiClient.id)).scalars()]


def revoke_client(session: Session, client_id: str, *, now: dt.datetime, actor: str = "cli") -> ClientRecord:
    row = session.execute(select(ApiClient).where(ApiClient.client_id == client_id)).scalar_one_or_none()
    if row is None:
        raise ClientNotFound(f"no API client {client_id!r}")
    if row.revoked:
        raise InvalidClient(f"API client {client_id} is already revoked")
    session.execute(update(ApiClient).where(ApiClient.id == row.id).values(revoked=True, revoked_at=now))
    audit.record(session, now=now, actor=actor, action="api_client.revoke", subject_type="api_client",
                 subject_id=client_id, from_state="active", to_state="revoked")
    session.refresh(row)
    return ClientRecord.of(row)


def authenticate(session: Session, api_key: str) -> ClientInfo | None:
    """The client owning ``api_key`` if it is valid and not revoked, else None."""
    parts = split_key(api_key)
    if parts is None:
        return None
    client_id, secret = parts
    row = hot_sql.one_or_none(session, _BY_CLIENT_ID, {"client_id": client_id})
    stored = bytes(row.key_hash) if row is not None else _DUMMY_HASH
    matches = hmac.compare_digest(stored, _secret_hash(secret))
    if row is None or not matches or row.revoked:
        return None
    return ClientInfo(row.id, row.client_id, row.name, row.role, row.channel, row.distributor_id)
