"""Batch review from the console: list, approve or reject, by a second person with a fresh second factor.

The same state changes as ``voucherctl batch approve`` / ``void``
(:mod:`vouchers.storage.batch_states`), so the rule "the creator cannot
approve" exists once; on top, the reviewer must hold the approver role and
type a TOTP code not used before (step-up). Signing is never involved.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from vouchers.errors import VoucherError
from vouchers.services import two_person
from vouchers.services.staff import record_action
from vouchers.staff.sessions import Resumed
from vouchers.storage import batch_states
from vouchers.storage.models import Batch
from vouchers.text import REASON_MAX, text_problem


class ReviewRefused(VoucherError):
    code = "review_refused"


class StepUpRefused(ReviewRefused):
    code = "step_up_refused"


REFUSALS = two_person.Refusals(not_pending=ReviewRefused, role=ReviewRefused, same_person=ReviewRefused,
                               step_up=StepUpRefused)


@dataclass(frozen=True)
class BatchRow:
    batch_id: str
    status: str
    face_value: int
    currency: str
    count: int
    first_serial: str
    last_serial: str
    created_by: str
    created_at: dt.datetime
    approved_by: str | None
    void_reason: str | None


def list_batches(session: Session, *, status: str | None = None, limit: int = 200) -> list[BatchRow]:
    query = select(Batch).order_by(Batch.id.desc()).limit(limit)
    if status:
        query = query.where(Batch.status == status)
    return [BatchRow(b.batch_id, b.status, b.face_value, b.currency, b.count, b.first_serial, b.last_serial,
                     b.created_by, b.created_at, b.approved_by, b.void_reason)
            for b in session.execute(query).scalars()]


def require_checker(session: Session, who: Resumed, totp_code: str, seal_key: bytes, now: dt.datetime) -> None:
    """The approver role and a fresh TOTP code (:func:`two_person.require_checker`), refused as a review."""
    two_person.require_checker(session, who, totp_code, seal_key, now, refusals=REFUSALS)


def approve(session: Session, who: Resumed, batch_id: str, *, totp_code: str, seal_key: bytes,
            now: dt.datetime) -> str:
    """Approve a draft batch; its status after."""
    require_checker(session, who, totp_code, seal_key, now)
    batch = batch_states.approve(session, batch_id, who.staff.username, now)
    record_action(session, who, action="console.batch.approve", subject_type="batch", subject_id=batch_id,
                  now=now, details={"step_up": True})
    return batch.status


def reject(session: Session, who: Resumed, batch_id: str, *, reason: str, totp_code: str, seal_key: bytes,
           now: dt.datetime) -> str:
    """Reject a draft batch (it becomes void, none of its cards can ever be sold): a reason is required."""
    reason = (reason or "").strip()
    problem = text_problem(reason, REASON_MAX) if reason else "a reason is required"
    if problem:
        raise ReviewRefused(problem)
    require_checker(session, who, totp_code, seal_key, now)
    batch = batch_states.get_batch(session, batch_id)
    if batch.status != "draft":
        raise batch_states.BatchStateError(f"batch {batch_id} is {batch.status}: only a draft can be rejected")
    if batch.created_by.strip().casefold() == who.staff.username:
        raise batch_states.MakerCheckerViolation(f"{who.staff.username} created batch {batch_id}: "
                                                 "a second person must review it")
    batch_states.void(session, batch_id, reason, who.staff.username, now)
    record_action(session, who, action="console.batch.reject", subject_type="batch", subject_id=batch_id,
                  now=now, reason=reason, details={"step_up": True})
    return "void"
