"""The one two-person confirmation: a proposal, then a *different* approver confirms it with a fresh TOTP code.

Used by every proposal store (the batch desk's void and key revocation, the
payment reversal) and, for its role and code check, by batch review and the
second-factor reset. The rule lives here once:

* the confirmer holds the approver role;
* the confirmer is not the proposer (compared without case), whatever roles they hold;
* the confirmer types a TOTP code not used before (a replayed code is refused);
* the request is still ``pending``: it is claimed with a conditional UPDATE, so
  two confirmations racing each other cannot both carry the action out;
* the confirmation is one audit event naming the staff id and session id.

Each caller keeps its own domain errors (their codes are part of the console and
CLI answers): it passes them in as :class:`Refusals`.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import update
from sqlalchemy.orm import Session

from vouchers.errors import VoucherError
from vouchers.services.staff import record_action
from vouchers.staff import accounts
from vouchers.staff.roles import APPROVER
from vouchers.staff.sessions import Resumed


class ProposalRow(Protocol):
    """What a request row of any store has (an ORM object)."""

    id: int
    status: str
    requested_by: str
    decided_by: str | None
    decided_at: dt.datetime | None


@dataclass(frozen=True)
class Refusals:
    """The caller's error class for each refusal."""

    not_pending: type[VoucherError]
    role: type[VoucherError]
    same_person: type[VoucherError]
    step_up: type[VoucherError]


@dataclass(frozen=True)
class Audit:
    """The audit event of a decision (the caller names the action and subject)."""

    action: str
    subject_type: str
    subject_id: str
    to_state: str
    reason: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


def require_checker(session: Session, who: Resumed, totp_code: str, seal_key: bytes, now: dt.datetime, *,
                    refusals: Refusals) -> None:
    """The approver role and a fresh TOTP code (spent by this call: the same code never passes twice)."""
    if not who.staff.has(APPROVER):
        raise refusals.role(f"{who.staff.username} does not hold the approver role")
    if not accounts.step_up(session, who.staff.pk, totp_code, seal_key=seal_key, now=now):
        raise refusals.step_up("the TOTP code is wrong or was already used: a fresh code is needed")


def decide(session: Session, who: Resumed, model: type, row: ProposalRow, *, status: str, totp_code: str,
           seal_key: bytes, now: dt.datetime, refusals: Refusals,
           carry_out: Callable[[], Audit], values: Mapping[str, Any] | None = None) -> None:
    """The second person's decision on a pending proposal ``row`` of table ``model``.

    Checks the state, the role, that the decider is not the proposer and a fresh code; then claims the row
    (``pending`` -> ``status``, decided by/at plus ``values``) with a conditional UPDATE; then
    ``carry_out()`` does the action itself (in the same transaction: if it fails, nothing is decided) and
    says what to audit.
    """
    if row.status != "pending":
        raise refusals.not_pending(f"request {row.id} is already {row.status} (by {row.decided_by}): "
                                   "only a pending proposal can be decided")
    if row.requested_by.casefold() == who.staff.username.casefold():  # whatever roles the proposer holds
        raise refusals.same_person(f"{who.staff.username} proposed request {row.id}: a second person must "
                                   "confirm or reject it")
    require_checker(session, who, totp_code, seal_key, now, refusals=refusals)
    claimed = session.execute(
        update(model).where(model.id == row.id, model.status == "pending")
        .values(status=status, decided_by=who.staff.username, decided_at=now, **(values or {}))
        .execution_options(synchronize_session="fetch")).rowcount
    if claimed != 1:
        raise refusals.not_pending(f"request {row.id} was decided meanwhile")
    event = carry_out()
    record_action(session, who, action=event.action, subject_type=event.subject_type, subject_id=event.subject_id,
                  now=now, reason=event.reason, to_state=event.to_state, details={**event.details, "step_up": True})
