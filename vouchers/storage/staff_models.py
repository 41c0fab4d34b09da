"""Tables of the staff console: staff accounts and their server-side sessions.

No secret is stored in the clear: passwords are Argon2id hashes, TOTP secrets
are sealed (XSalsa20-Poly1305 under a key derived from the key store's pepper),
and a session row keeps only SHA-256 of its bearer token.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Index, Integer, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from vouchers.storage.db import Base
from vouchers.storage.types import UTCDateTime

SESSION_KINDS = ("web", "cli")


class StaffAccount(Base):
    """A person who works in the console or the CLI; ``roles`` is a comma-separated set."""

    __tablename__ = "staff_accounts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    roles: Mapped[str] = mapped_column(String(200))
    distributor_id: Mapped[str | None] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(200))
    totp_sealed: Mapped[bytes] = mapped_column(LargeBinary(200))
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)  # the newest time step used: no replay
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(100))
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    reset_requested_by: Mapped[str | None] = mapped_column(String(64))  # a pending 2FA reset (maker)
    reset_requested_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # 0019: the fraud rule insider.staff_match compares these with the customers' (normalised as theirs)
    phone: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(200))


class StaffSession(Base):
    """One login (browser or CLI): idle and absolute limits are checked against these times."""

    __tablename__ = "staff_sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(String(40), unique=True)  # public: named in the audit chain
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    staff_pk: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id"))
    kind: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    __table_args__ = (
        CheckConstraint(f"kind IN {SESSION_KINDS!r}", name="ck_staff_sessions_kind"),
        Index("ix_staff_sessions_staff_pk", "staff_pk"),
    )


REQUEST_STATUSES = ("pending", "approved", "rejected")


class ApprovalRequest(Base):
    """Maker-checker between two people: one proposes an action, a different approver confirms or rejects it.

    ``kind`` names the action (``payment_reversal``); ``subject_id`` what it acts on. At most one pending
    request per kind and subject. ``result`` says what the confirmed action produced (a transaction id).
    """

    __tablename__ = "approval_requests"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(8))
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    decision_reason: Mapped[str | None] = mapped_column(Text)
    result: Mapped[str | None] = mapped_column(String(64))
    __table_args__ = (
        CheckConstraint(f"status IN {REQUEST_STATUSES!r}", name="ck_approval_requests_status"),
        Index("uq_approval_requests_pending", "kind", "subject_id", unique=True,
              postgresql_where=text("status = 'pending'"), sqlite_where=text("status = 'pending'")),
        Index("ix_approval_requests_status", "status"),
    )
