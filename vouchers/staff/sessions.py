"""Server-side staff sessions: a random bearer token (cookie or CLI token file), only its SHA-256 stored.

A session ends at logout, when its account is disabled, after ``idle`` without
use or ``absolute`` after login, whichever comes first. Each login makes a new
token (rotation: a token planted before login is worthless after it).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from vouchers.staff.accounts import StaffInfo
from vouchers.storage.staff_models import StaffAccount, StaffSession

TOKEN_BYTES = 32


@dataclass(frozen=True)
class Limits:
    idle: dt.timedelta = dt.timedelta(minutes=15)
    absolute: dt.timedelta = dt.timedelta(hours=8)


@dataclass(frozen=True)
class Resumed:
    """A live session: who, and its public id (named in the audit chain)."""

    staff: StaffInfo
    session_id: str
    created_at: dt.datetime


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("ascii", "replace")).digest()


def start(session: Session, staff: StaffInfo, *, kind: str, now: dt.datetime) -> tuple[str, str]:
    """A new session; returns (token, session_id). The token is shown to the caller only."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session_id = "s_" + secrets.token_hex(8)
    session.add(StaffSession(session_id=session_id, token_hash=_hash(token), staff_pk=staff.pk, kind=kind,
                             created_at=now, last_seen_at=now, ended_at=None))
    session.flush()
    return token, session_id


def resume(session: Session, token: str | None, *, now: dt.datetime, limits: Limits,
           kind: str | None = None, touch: bool = True) -> Resumed | None:
    """The live session of ``token``, its idle clock reset; None when unknown, ended, expired or disabled."""
    if not token or len(token) > 100:
        return None
    found = session.execute(select(StaffSession, StaffAccount).join(StaffAccount,
                                                                    StaffAccount.id == StaffSession.staff_pk)
                            .where(StaffSession.token_hash == _hash(token))).first()
    if found is None:
        return None
    row, account = found
    if kind is not None and row.kind != kind:
        return None
    expired = now - row.last_seen_at > limits.idle or now - row.created_at > limits.absolute
    if row.ended_at is not None or account.disabled or expired:
        if row.ended_at is None:
            row.ended_at = now
        return None
    if touch:
        row.last_seen_at = now
    return Resumed(StaffInfo.of(account), row.session_id, row.created_at)


def end(session: Session, token: str | None, *, now: dt.datetime) -> str | None:
    """End the session of ``token``; its public id, or None if there was none live."""
    if not token:
        return None
    row = session.execute(select(StaffSession).where(StaffSession.token_hash == _hash(token))).scalar_one_or_none()
    if row is None or row.ended_at is not None:
        return None
    session.execute(update(StaffSession).where(StaffSession.id == row.id).values(ended_at=now))
    return row.session_id
