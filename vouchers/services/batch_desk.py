"""The issuer's batch desk: requests for the issuer process, the key-free batch actions, two-person proposals.

One module for the console and the CLI (``voucherctl requests``, ``voucherctl batch void``):

* **Requests for the issuer process.** The web process cannot sign or open the
  card store (docs/architecture.md "Trust split"): a new batch, a print run, an
  export to the print house and closing a batch (which destroys the sealed card
  file) are *recorded* here by the maker and carried out by
  ``voucherctl requests fulfil N`` in the issuer process, with the same issuer
  functions as ``voucherctl batch create/print/export/close``.
* **Key-free actions** run at once, through the same functions as the CLI:
  ship (:func:`vouchers.storage.batch_states.transition`), consign
  (:func:`vouchers.books.stock.consign`), activate
  (:func:`vouchers.books.voucher_books.activate`), void (:func:`void_batch`).
* **Two-person actions** (void a batch, revoke a signing key): one person
  proposes, a *different* person with the approver role confirms with a fresh
  TOTP code. A confirmed void runs at once; a confirmed key revocation waits
  for the issuer process, which alone writes the key store.

Every step is audited with the staff id and session id (``record_action``).
"""
from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from vouchers.batch_request import BatchRequest, InvalidBatchRequest, validate_request
from vouchers.books import stock, voucher_books
from vouchers.errors import InvalidSerial, VoucherError
from vouchers.serials import range_last
from vouchers.services import two_person
from vouchers.services.staff import record_action
from vouchers.staff.roles import ADMIN, APPROVER, ISSUER_OPERATOR
from vouchers.staff.sessions import Resumed
from vouchers.storage import audit, batch_states
from vouchers.storage.models import Batch
from vouchers.storage.request_models import StaffRequest
from vouchers.text import REASON_MAX, text_problem

ISSUER_KINDS = ("batch_create", "batch_print", "batch_export", "batch_close")  # carried out by the issuer process
TWO_PERSON_KINDS = ("batch_void", "key_revoke")
AGE_RECIPIENT = re.compile(r"age1[02-9ac-hj-np-z]{58}")  # bech32, X25519 (the issuer parses it fully)
KEY_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
DISTRIBUTOR_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class DeskRefused(VoucherError):
    """A request that cannot be made or decided (bad input, wrong role, wrong state)."""

    code = "desk_refused"


class RequestNotFound(DeskRefused):
    code = "request_not_found"


class SamePerson(DeskRefused):
    """The two-person rule: the proposer cannot confirm their own proposal."""

    code = "same_person"


class StepUpRefused(DeskRefused):
    code = "step_up_refused"


REFUSALS = two_person.Refusals(not_pending=DeskRefused, role=DeskRefused, same_person=SamePerson,
                               step_up=StepUpRefused)


@dataclass(frozen=True)
class RequestRow:
    id: int
    kind: str
    subject_id: str | None
    params: dict[str, Any]
    reason: str | None
    status: str
    requested_by: str
    requested_at: dt.datetime
    decided_by: str | None
    decided_at: dt.datetime | None
    done_by: str | None
    done_at: dt.datetime | None
    result: dict[str, Any] | None

    @classmethod
    def of(cls, r: StaffRequest) -> RequestRow:
        return cls(r.id, r.kind, r.subject_id, json.loads(r.params), r.reason, r.status, r.requested_by,
                   r.requested_at, r.decided_by, r.decided_at, r.done_by, r.done_at,
                   json.loads(r.result) if r.result else None)

    @property
    def waits_for_issuer(self) -> bool:
        return (self.kind in ISSUER_KINDS and self.status == "pending") or \
            (self.kind == "key_revoke" and self.status == "approved")


def _need(who: Resumed, *roles: str) -> None:
    if not who.staff.roles & set(roles):
        raise DeskRefused(f"{who.staff.username} does not hold the role needed ({' or '.join(roles)})")


def _reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    problem = text_problem(reason, REASON_MAX) if reason else "a reason is required"
    if problem:
        raise DeskRefused(problem)
    return reason


def _record(session: Session, who: Resumed, kind: str, subject_id: str | None, params: dict[str, Any], *,
            now: dt.datetime, reason: str | None = None) -> int:
    row = StaffRequest(kind=kind, subject_id=subject_id, params=json.dumps(params, sort_keys=True), reason=reason,
                       status="pending", requested_by=who.staff.username, requested_at=now)
    session.add(row)
    session.flush()
    record_action(session, who, action=f"console.request.{kind}", subject_type="staff_request",
                  subject_id=str(row.id), now=now, reason=reason, to_state="pending",
                  details={"subject": subject_id, **params})
    return row.id


def _batch(session: Session, batch_id: str) -> Batch:
    return batch_states.get_batch(session, (batch_id or "")[:32])


def _open_request(session: Session, kind: str, subject_id: str) -> StaffRequest | None:
    return session.execute(select(StaffRequest).where(
        StaffRequest.kind == kind, StaffRequest.subject_id == subject_id,
        StaffRequest.status.in_(("pending", "approved")))).scalars().first()


# -- requests for the issuer process -----------------------------------------------------------

def request_batch(session: Session, who: Resumed, *, face_value: int, count: int, expires: dt.date, currency: str,
                  today: dt.date, max_count: int, now: dt.datetime) -> int:
    """The maker asks for a new batch; the issuer process generates it (a draft) with the maker as creator."""
    _need(who, ISSUER_OPERATOR)
    validate_request(BatchRequest(face_value, count, expires, currency.upper(), who.staff.username),
                     today=today, max_count=max_count)
    return _record(session, who, "batch_create", None, {
        "face_value": face_value, "count": count, "expires": expires.isoformat(), "currency": currency.upper()},
        now=now)


def request_print(session: Session, who: Resumed, batch_id: str, *, layout: str, now: dt.datetime) -> int:
    _need(who, ISSUER_OPERATOR)
    batch = _batch(session, batch_id)
    if batch.status not in ("approved", "printed", "shipped"):
        raise batch_states.BatchStateError(f"batch {batch.batch_id} is {batch.status}: only approved stock prints")
    if not re.fullmatch(r"[a-z0-9-]{1,40}", layout or ""):
        raise DeskRefused("the layout name is not valid")
    if _open_request(session, "batch_print", batch.batch_id):
        raise DeskRefused(f"a print of {batch.batch_id} is already waiting for the issuer process")
    return _record(session, who, "batch_print", batch.batch_id, {"layout": layout}, now=now)


def request_export(session: Session, who: Resumed, batch_id: str, *, recipient: str, now: dt.datetime) -> int:
    """The card CSV for the print house, encrypted to its age recipient by the issuer process."""
    _need(who, ISSUER_OPERATOR)
    batch = _batch(session, batch_id)
    if batch.status not in ("approved", "printed", "shipped"):
        raise batch_states.BatchStateError(f"batch {batch.batch_id} is {batch.status}: only approved stock "
                                           "is exported")
    recipient = (recipient or "").strip()
    if not AGE_RECIPIENT.fullmatch(recipient):
        raise DeskRefused("the print house recipient must be an age X25519 recipient (age1...)")
    if _open_request(session, "batch_export", batch.batch_id):
        raise DeskRefused(f"an export of {batch.batch_id} is already waiting for the issuer process")
    return _record(session, who, "batch_export", batch.batch_id, {"recipient": recipient}, now=now)


def request_close(session: Session, who: Resumed, batch_id: str, *, now: dt.datetime) -> int:
    """Closing destroys the sealed card file, which only the issuer process may touch."""
    _need(who, ISSUER_OPERATOR)
    batch = _batch(session, batch_id)
    if batch.status != "shipped":
        raise batch_states.BatchStateError(f"batch {batch.batch_id} is {batch.status}: only shipped stock closes")
    if _open_request(session, "batch_close", batch.batch_id):
        raise DeskRefused(f"closing {batch.batch_id} is already waiting for the issuer process")
    return _record(session, who, "batch_close", batch.batch_id, {}, now=now)


# -- key-free actions, at once -----------------------------------------------------------------

def ship(session: Session, who: Resumed, batch_id: str, *, now: dt.datetime) -> str:
    _need(who, ISSUER_OPERATOR)
    batch = batch_states.get_batch(session, batch_id[:32], for_update=True)
    batch_states.transition(session, batch, "shipped", who.staff.username, now)
    record_action(session, who, action="console.batch.ship", subject_type="batch", subject_id=batch.batch_id,
                  now=now, to_state="shipped")
    return batch.status


def _range(first_serial: str | None, count: int | None) -> tuple[str | None, str | None]:
    """First serial + count -> (first, last); neither -> the whole batch."""
    first_serial = (first_serial or "").strip() or None
    if first_serial is None and count is None:
        return None, None
    if first_serial is None or count is None:
        raise DeskRefused("give the first serial and the number of cards, or neither (the whole batch)")
    try:
        return first_serial, range_last(first_serial, count)
    except InvalidSerial as e:
        raise DeskRefused(str(e)) from e


def consign(session: Session, who: Resumed, batch_id: str, distributor_id: str, *, first_serial: str | None,
            count: int | None, now: dt.datetime) -> stock.ConsignmentResult:
    _need(who, ISSUER_OPERATOR)
    distributor_id = (distributor_id or "").strip()
    if not DISTRIBUTOR_ID.fullmatch(distributor_id):
        raise DeskRefused("the distributor id is required (letters, digits, . _ -)")
    first, last = _range(first_serial, count)
    result = stock.consign(session, batch_id[:32], distributor_id, first, last, now=now, actor=who.staff.username)
    record_action(session, who, action="console.batch.consign", subject_type="batch", subject_id=result.batch_id,
                  now=now, details={"distributor_id": distributor_id, "first_serial": result.first_serial,
                                    "last_serial": result.last_serial, "consigned": result.consigned})
    return result


def activate(session: Session, who: Resumed, batch_id: str, distributor_id: str, *, first_serial: str | None,
             count: int | None, now: dt.datetime, own_stock_only: bool) -> voucher_books.ActivationResult:
    """A sold range made redeemable (Dr distributor, Dr commission, Cr voucher liability).

    ``own_stock_only`` for distributor staff: every card must be consigned to their own distributor, which
    comes from their account (the caller passes it), never from the form.
    """
    first, last = _range(first_serial, count)
    result = voucher_books.activate(session, batch_id[:32], distributor_id, first, last, now=now,
                                    actor=who.staff.username, own_stock_only=own_stock_only)
    record_action(session, who, action="console.batch.activate", subject_type="batch", subject_id=result.batch_id,
                  now=now, details={"distributor_id": distributor_id, "first_serial": result.first_serial,
                                    "last_serial": result.last_serial, "count": result.count})
    return result


def void_batch(session: Session, batch_id: str, reason: str, operator: str, now: dt.datetime) -> tuple[Batch, int]:
    """Void a batch and its unredeemed cards, reversing the sale of activated ones (the CLI and the console)."""
    if not reason or not reason.strip():
        raise InvalidBatchRequest("a reason is required to void a batch")

    def reverse(s: Session, batch: Batch) -> None:
        voucher_books.reverse_liability_for_void(s, batch.id, now, actor="batch-void")

    return batch_states.void(session, batch_id, reason, operator, now, on_void=reverse)


# -- two-person proposals ----------------------------------------------------------------------

def propose_void(session: Session, who: Resumed, batch_id: str, *, reason: str, now: dt.datetime) -> int:
    _need(who, ISSUER_OPERATOR, APPROVER)
    reason = _reason(reason)
    batch = _batch(session, batch_id)
    if batch.status in ("void", "closed"):
        raise batch_states.BatchStateError(f"batch {batch.batch_id} is {batch.status}: it cannot be voided")
    if _open_request(session, "batch_void", batch.batch_id):
        raise DeskRefused(f"a void of {batch.batch_id} is already proposed: an approver confirms or rejects it")
    return _record(session, who, "batch_void", batch.batch_id, {}, now=now, reason=reason)


def propose_key_revoke(session: Session, who: Resumed, key_id: str, *, reason: str, known_keys: set[str],
                       now: dt.datetime) -> int:
    """``known_keys``: the key ids of the public ring (the caller reads it; revoked ones excluded)."""
    _need(who, ADMIN, APPROVER)
    reason = _reason(reason)
    key_id = (key_id or "").strip()
    if not KEY_ID.fullmatch(key_id) or key_id not in known_keys:
        raise DeskRefused(f"no signing key {key_id[:64]!r} that could be revoked")
    if _open_request(session, "key_revoke", key_id):
        raise DeskRefused(f"revoking {key_id} is already proposed")
    return _record(session, who, "key_revoke", key_id, {}, now=now, reason=reason)


def _load(session: Session, request_id: int) -> StaffRequest:
    row = session.get(StaffRequest, request_id, with_for_update=True)
    if row is None:
        raise RequestNotFound(f"no request {request_id}")
    return row


def confirm(session: Session, who: Resumed, request_id: int, *, totp_code: str, seal_key: bytes,
            now: dt.datetime) -> RequestRow:
    """The second person: an approver other than the proposer, with a fresh TOTP code (:mod:`two_person`).

    A void runs at once; a key revocation becomes ``approved`` for the issuer process to carry out.
    """
    row = _load(session, request_id)
    if row.kind not in TWO_PERSON_KINDS:
        raise DeskRefused(f"request {request_id} ({row.kind}) needs no second person")
    proposed_by = row.requested_by

    def carry_out() -> two_person.Audit:
        details: dict[str, Any] = {"kind": row.kind, "subject": row.subject_id, "proposed_by": proposed_by}
        if row.kind == "batch_void":
            batch, voided = void_batch(session, row.subject_id or "", row.reason or "", who.staff.username, now)
            row.status, row.done_by, row.done_at = "done", who.staff.username, now
            row.result = json.dumps({"vouchers_voided": voided})
            details["vouchers_voided"] = voided
        return two_person.Audit(action=f"console.request.{row.kind}.confirm", subject_type="staff_request",
                                subject_id=str(row.id), to_state=row.status, details=details)

    two_person.decide(session, who, StaffRequest, row, status="approved", totp_code=totp_code, seal_key=seal_key,
                      now=now, refusals=REFUSALS, carry_out=carry_out)
    session.flush()
    return RequestRow.of(row)


def reject(session: Session, who: Resumed, request_id: int, *, reason: str, now: dt.datetime) -> RequestRow:
    """An approver turns a pending request or proposal down (with a reason); the maker may withdraw their own."""
    reason = _reason(reason)
    row = _load(session, request_id)
    if row.status not in ("pending", "approved") or (row.status == "approved" and row.kind != "key_revoke"):
        raise DeskRefused(f"request {request_id} is {row.status}: it can no longer be rejected")
    own = row.requested_by.casefold() == who.staff.username.casefold()
    if not own:
        _need(who, APPROVER)
    row.status = "cancelled" if own else "rejected"
    row.decided_by, row.decided_at = who.staff.username, now
    record_action(session, who, action=f"console.request.{row.kind}.{row.status}", subject_type="staff_request",
                  subject_id=str(row.id), now=now, reason=reason, to_state=row.status,
                  details={"kind": row.kind, "subject": row.subject_id})
    session.flush()
    return RequestRow.of(row)


# -- reading and fulfilling --------------------------------------------------------------------

def list_requests(session: Session, *, subject_id: str | None = None, open_only: bool = False,
                  limit: int = 200) -> list[RequestRow]:
    query = select(StaffRequest).order_by(StaffRequest.id.desc()).limit(limit)
    if subject_id is not None:
        query = query.where(StaffRequest.subject_id == subject_id)
    if open_only:
        query = query.where(StaffRequest.status.in_(("pending", "approved")))
    return [RequestRow.of(r) for r in session.execute(query).scalars()]


def get_request(session: Session, request_id: int) -> RequestRow:
    row = session.get(StaffRequest, request_id)
    if row is None:
        raise RequestNotFound(f"no request {request_id}")
    return RequestRow.of(row)


def for_issuer(session: Session, request_id: int) -> RequestRow:
    """A request the issuer process may carry out now (else one clear refusal)."""
    row = get_request(session, request_id)
    if not row.waits_for_issuer:
        state = "needs a second approver first" if row.kind in TWO_PERSON_KINDS and row.status == "pending" \
            else f"is {row.status}"
        raise DeskRefused(f"request {request_id} ({row.kind}) {state}: nothing for the issuer process to do")
    return row


def mark_done(session: Session, request_id: int, *, done_by: str, subject_id: str | None, result: dict[str, Any],
              now: dt.datetime) -> None:
    """Record that the issuer process carried the request out (once: a second run is refused)."""
    row = get_request(session, request_id)
    changed = session.execute(update(StaffRequest).where(
        StaffRequest.id == request_id, StaffRequest.status == row.status, StaffRequest.status != "done")
        .values(status="done", done_by=done_by, done_at=now, subject_id=subject_id or row.subject_id,
                result=json.dumps(result, sort_keys=True))).rowcount
    if changed != 1:
        raise DeskRefused(f"request {request_id} was carried out or decided meanwhile")
    audit.record(session, now=now, actor=done_by, action=f"request.{row.kind}.done", subject_type="staff_request",
                 subject_id=str(request_id), from_state=row.status, to_state="done",
                 details={"subject": subject_id or row.subject_id, "requested_by": row.requested_by, **result})
