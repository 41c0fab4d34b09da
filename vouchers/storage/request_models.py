"""Staff requests: what the web console asks of the issuer process, and the two-person proposals.

The web process never signs and never writes the key store; a batch request,
a print or export request, a close request and a confirmed key revocation
wait here until the issuer process (``voucherctl batch fulfil``) carries them
out. A two-person action (void a batch, revoke a key) is proposed by one
person and confirmed by a different approver with a fresh second factor.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vouchers.storage.db import Base
from vouchers.storage.types import UTCDateTime

REQUEST_KINDS = ("batch_create", "batch_print", "batch_export", "batch_close", "batch_void", "key_revoke")
REQUEST_STATUSES = ("pending", "approved", "done", "rejected", "cancelled")


class StaffRequest(Base):
    __tablename__ = "staff_requests"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(24))
    subject_id: Mapped[str | None] = mapped_column(String(64))  # batch id or key id (a create: once generated)
    params: Mapped[str] = mapped_column(Text)  # JSON of the request's plain values (never a secret)
    reason: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(64))  # the second person (confirm or reject)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    done_by: Mapped[str | None] = mapped_column(String(64))  # who carried it out (the issuer process, or the web)
    done_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    result: Mapped[str | None] = mapped_column(Text)  # JSON: what came of it (batch id, files, ...)
    __table_args__ = (
        CheckConstraint(f"kind IN {REQUEST_KINDS!r}", name="ck_staff_requests_kind"),
        CheckConstraint(f"status IN {REQUEST_STATUSES!r}", name="ck_staff_requests_status"),
        Index("ix_staff_requests_status", "status"),
    )
