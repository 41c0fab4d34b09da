"""Tables of the issuer side: batches, vouchers, audit events, print jobs.

No secret lives here: a voucher's code is stored only as HMAC-SHA256 under a
pepper kept in the key store.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,

    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from vouchers.storage.db import Base
from vouchers.storage.types import UTCDateTime

BigId = BigInteger().with_variant(Integer(), "sqlite")  # SQLite rowid aliasing needs INTEGER

BATCH_STATUSES = ("draft", "approved", "printed", "shipped", "closed", "void")
VOUCHER_STATUSES = ("inactive", "active", "redeemed", "expired", "void")


class Batch(Base):
    __tablename__ = "batches"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_id: Mapped[str] = mapped_column(String(20), unique=True)
    issuer_code: Mapped[int] = mapped_column(Integer)
    face_value: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    count: Mapped[int] = mapped_column(Integer)
    expires: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))
    key_id: Mapped[str] = mapped_column(String(64))
    first_serial: Mapped[str] = mapped_column(String(32))
    last_serial: Mapped[str] = mapped_column(String(32))
    card_data_sha256: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    approved_by: Mapped[str | None] = mapped_column(String(100))
    approved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    void_reason: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (
        CheckConstraint("face_value > 0", name="ck_batches_face_positive"),
        CheckConstraint("count > 0", name="ck_batches_count_positive"),
        CheckConstraint(f"status IN {BATCH_STATUSES!r}", name="ck_batches_status"),
    )


class Voucher(Base):
    __tablename__ = "vouchers"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    serial: Mapped[str] = mapped_column(String(32), unique=True)
    # indexed through uq_vouchers_batch_sequence (batch_pk leads it)
    batch_pk: Mapped[int] = mapped_column(ForeignKey("batches.id"))
    sequence: Mapped[int] = mapped_column(Integer)
    code_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    face_value: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    expires: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="inactive")
    distributor_id: Mapped[str | None] = mapped_column(String(64))  # who sold (activated) it
    # whose stock it is: the distributor it was shipped to (0014_consignments), or who activated it
    consigned_to: Mapped[str | None] = mapped_column(String(64))
    activated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    redeemed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    expired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())  # added by 0002_ledger
    voided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())  # liability reversed (0002_ledger)
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    __table_args__ = (
        CheckConstraint("face_value > 0", name="ck_vouchers_face_positive"),
        CheckConstraint(f"status IN {VOUCHER_STATUSES!r}", name="ck_vouchers_status"),
        UniqueConstraint("batch_pk", "sequence", name="uq_vouchers_batch_sequence"),
        Index("ix_vouchers_status_expires", "status", "expires"),
    )


class AuditEvent(Base):
    """Who did what, when, from which state to which; hash-chained."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64), index=True)
    from_state: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[str | None] = mapped_column(Text)  # JSON, never secrets
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class PrintJob(Base):
    """One rendering or export of a batch's secrets (chain of custody)."""

    __tablename__ = "print_jobs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_pk: Mapped[int] = mapped_column(ForeignKey("batches.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # print | export
    operator: Mapped[str] = mapped_column(String(100))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    card_count: Mapped[int] = mapped_column(Integer)
    files: Mapped[str] = mapped_column(Text)  # JSON list of {name, sha256, cards}
    layout: Mapped[str | None] = mapped_column(String(64))
    reprint_reason: Mapped[str | None] = mapped_column(Text)
