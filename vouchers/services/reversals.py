"""Payment reversal by two people: a finance user proposes it, a different approver confirms it with a fresh code.

The console and ``voucherctl payments reverse`` (once staff accounts exist) both
call these functions; the reversal itself is the books' one
(:func:`vouchers.books.corrections.reverse_payment`). A proposal is a row of
``approval_requests`` (kind ``payment_reversal``): at most one pending per
payment. The proposer can never confirm their own proposal, whatever roles they
hold; the confirmer must hold the approver role and type a TOTP code not used
before (step-up). Every step is an audit event naming the staff id and session id.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from vouchers.books import payments as payment_service
from vouchers.books.corrections import reverse_payment, reversible_payment
from vouchers.books.timeutil import from_db
from vouchers.errors import VoucherError
from vouchers.services import two_person
from vouchers.services.batch_review import ReviewRefused, StepUpRefused
from vouchers.services.staff import record_action
from vouchers.staff.roles import FINANCE
from vouchers.staff.sessions import Resumed
from vouchers.storage.ledger_models import Payment
from vouchers.storage.staff_models import ApprovalRequest
from vouchers.text import REASON_MAX, text_problem

KIND = "payment_reversal"

__all__ = ["KIND", "RequestRefused", "ReviewRefused", "SecondPersonRequired", "StepUpRefused", "ReversalRequest",
           "propose", "confirm", "reject", "requests", "get_request"]


class RequestRefused(VoucherError):
    code = "request_refused"


class SecondPersonRequired(RequestRefused):
    """The proposer tried to confirm or reject their own proposal."""

    code = "second_person_required"


class RequestNotFound(RequestRefused):
    code = "request_not_found"


REFUSALS = two_person.Refusals(not_pending=RequestRefused, role=ReviewRefused, same_person=SecondPersonRequired,
                               step_up=StepUpRefused)


@dataclass(frozen=True)
class ReversalRequest:
    request_id: int
    payment: payment_service.PaymentResult  # the payment as it stands now
    reason: str
    status: str  # pending, approved, rejected
    requested_by: str
    requested_at: dt.datetime
    decided_by: str | None
    decided_at: dt.datetime | None
    decision_reason: str | None
    reversal_id: int | None  # the journal transaction of a confirmed reversal

    def as_json(self) -> dict[str, object]:
        from vouchers.money import format_amount

        p = self.payment
        return {"request_id": self.request_id, "payment_id": p.payment_id, "channel": p.channel,
                "external_ref": p.external_ref, "account_no": p.account_no,
                "amount": format_amount(p.amount), "currency": p.currency, "reason": self.reason,
                "status": self.status, "requested_by": self.requested_by,
                "requested_at": self.requested_at.isoformat(), "decided_by": self.decided_by,
                "decided_at": self.decided_at.isoformat() if self.decided_at else None,
                "decision_reason": self.decision_reason, "reversal_id": self.reversal_id}


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    problem = text_problem(reason, REASON_MAX) if reason else "a reason is required"
    if problem:
        raise RequestRefused(problem)
    return reason


def _view(session: Session, row: ApprovalRequest) -> ReversalRequest:
    p = payment_service.result_of(session, session.get(Payment, int(row.subject_id)), created=False)
    return ReversalRequest(row.id, p, row.reason, row.status, row.requested_by, from_db(row.requested_at),
                           row.decided_by, from_db(row.decided_at) if row.decided_at else None, row.decision_reason,
                           int(row.result) if row.result else None)


def _pending_for(session: Session, payment_id: int) -> ApprovalRequest | None:
    return session.execute(select(ApprovalRequest).where(
        ApprovalRequest.kind == KIND, ApprovalRequest.subject_id == str(payment_id),
        ApprovalRequest.status == "pending")).scalar_one_or_none()


def propose(session: Session, who: Resumed, payment_id: int, *, reason: str, now: dt.datetime) -> ReversalRequest:
    """The maker's half: a finance user asks for a booked, unsettled payment to be reversed."""
    if not who.staff.has(FINANCE):
        raise RequestRefused(f"{who.staff.username} does not hold the finance role needed to propose a reversal")
    reason = _reason(reason)
    reversible_payment(session, payment_id)  # refused now, not only when someone confirms it
    pending = _pending_for(session, payment_id)
    if pending is not None:
        raise RequestRefused(f"payment {payment_id} already has a pending reversal request ({pending.id}, "
                             f"proposed by {pending.requested_by})")
    row = ApprovalRequest(kind=KIND, subject_id=str(payment_id), reason=reason, status="pending",
                          requested_by=who.staff.username, requested_at=now)
    session.add(row)
    session.flush()
    record_action(session, who, action="payment.reversal.propose", subject_type="payment",
                  subject_id=str(payment_id), now=now, reason=reason, to_state="pending",
                  details={"request_id": row.id})
    return _view(session, row)


def _load(session: Session, request_id: int) -> ApprovalRequest:
    row = session.get(ApprovalRequest, request_id, with_for_update=True)
    if row is None or row.kind != KIND:
        raise RequestNotFound(f"no payment reversal request {request_id}")
    return row


def confirm(session: Session, who: Resumed, request_id: int, *, totp_code: str, seal_key: bytes,
            now: dt.datetime) -> ReversalRequest:
    """The checker's half: a different person with the approver role and a fresh code; the payment is reversed."""
    row = _load(session, request_id)

    def carry_out() -> two_person.Audit:
        posted = reverse_payment(session, int(row.subject_id), now=now, actor=who.staff.username, reason=row.reason)
        row.result = str(posted.transaction_id)
        return two_person.Audit(action="payment.reversal.confirm", subject_type="payment", subject_id=row.subject_id,
                                to_state="reversed", reason=row.reason,
                                details={"request_id": row.id, "requested_by": row.requested_by,
                                         "reversal_id": posted.transaction_id})

    two_person.decide(session, who, ApprovalRequest, row, status="approved", totp_code=totp_code,
                      seal_key=seal_key, now=now, refusals=REFUSALS, carry_out=carry_out)
    return _view(session, row)


def reject(session: Session, who: Resumed, request_id: int, *, reason: str, totp_code: str, seal_key: bytes,
           now: dt.datetime) -> ReversalRequest:
    """A different approver turns the proposal down (with a reason and a fresh code); nothing is booked."""
    reason = _reason(reason)
    row = _load(session, request_id)

    def carry_out() -> two_person.Audit:
        return two_person.Audit(action="payment.reversal.reject", subject_type="payment", subject_id=row.subject_id,
                                to_state="rejected", reason=reason,
                                details={"request_id": row.id, "requested_by": row.requested_by})

    two_person.decide(session, who, ApprovalRequest, row, status="rejected", totp_code=totp_code,
                      seal_key=seal_key, now=now, refusals=REFUSALS, carry_out=carry_out,
                      values={"decision_reason": reason})
    return _view(session, row)


def get_request(session: Session, request_id: int) -> ReversalRequest:
    row = session.get(ApprovalRequest, request_id)
    if row is None or row.kind != KIND:
        raise RequestNotFound(f"no payment reversal request {request_id}")
    return _view(session, row)


def requests(session: Session, *, status: str | None = "pending", limit: int = 100) -> list[ReversalRequest]:
    """Reversal requests, newest first (``status`` None: every status)."""
    query = select(ApprovalRequest).where(ApprovalRequest.kind == KIND).order_by(ApprovalRequest.id.desc()).limit(limit)
    if status is not None:
        query = query.where(ApprovalRequest.status == status)
    return [_view(session, row) for row in session.execute(query).scalars()]
