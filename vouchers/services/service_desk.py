"""Read models for customer service and the audit pages: a card's history by serial, an account's STS tokens,
the audit event log with filters, the chain's status.

``voucherctl audit list`` / ``audit verify`` and the console read the log through
:func:`audit_events` and :func:`audit_status`. Nothing here writes.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vouchers.books.timeutil import from_db
from vouchers.storage.api_models import Redemption
from vouchers.storage.audit import verify_chain
from vouchers.storage.models import AuditEvent, Batch, Voucher
from vouchers.storage.sts_models import StsVend


@dataclass(frozen=True)
class Event:
    id: int
    at: dt.datetime
    actor: str
    action: str
    subject_type: str
    subject_id: str
    from_state: str | None
    to_state: str | None
    reason: str | None

    @property
    def subject(self) -> str:
        return f"{self.subject_type}:{self.subject_id}"


def audit_events(session: Session, *, subject: str | None = None, actor: str | None = None,
                 action: str | None = None, limit: int = 100) -> list[Event]:
    """Newest events first; ``subject``: a batch id / serial / key id; ``action``: exact or a prefix ending in ``.``."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if subject:
        query = query.where(AuditEvent.subject_id == subject)
    if actor:
        query = query.where(AuditEvent.actor == actor)
    if action:
        query = query.where(AuditEvent.action.startswith(action, autoescape=True) if action.endswith(".")
                            else AuditEvent.action == action)
    return [Event(e.id, from_db(e.at), e.actor, e.action, e.subject_type, e.subject_id, e.from_state, e.to_state,
                  e.reason) for e in session.execute(query).scalars()]


@dataclass(frozen=True)
class ChainStatus:
    events: int
    problems: list[tuple[int | None, str]]  # (event id, what is wrong)

    @property
    def ok(self) -> bool:
        return not self.problems


def audit_status(session: Session) -> ChainStatus:
    """Recompute the hash chain now (every event edited, inserted or deleted shows as a problem)."""
    problems = [(p.event_id, p.problem) for p in verify_chain(session)]
    return ChainStatus(session.execute(select(func.count()).select_from(AuditEvent)).scalar_one(), problems)


@dataclass(frozen=True)
class CardHistory:
    serial: str
    batch_id: str
    status: str
    face_value: int
    currency: str
    expires: dt.date
    consigned_to: str | None
    distributor_id: str | None
    activated_at: dt.datetime | None
    redeemed_at: dt.datetime | None
    expired_at: dt.datetime | None
    voided_at: dt.datetime | None
    redeemed_to: str | None  # the account a redemption credited
    redeemed_by_channel: str | None
    events: list[Event]


def card_history(session: Session, serial: str) -> CardHistory | None:
    """The card's state, its redemption and every audit event naming it (or its batch), or None."""
    row = session.execute(select(Voucher, Batch.batch_id).join(Batch, Batch.id == Voucher.batch_pk)
                          .where(Voucher.serial == serial)).first()
    if row is None:
        return None
    v, batch_id = row
    redemption = session.execute(select(Redemption.account_no, Redemption.channel)
                                 .where(Redemption.voucher_id == v.id)).first()
    events = sorted(audit_events(session, subject=serial, limit=200) + audit_events(session, subject=batch_id,
                                                                                    limit=200),
                    key=lambda e: e.id)
    return CardHistory(v.serial, batch_id, v.status, v.face_value, v.currency, v.expires, v.consigned_to,
                       v.distributor_id, from_db(v.activated_at), from_db(v.redeemed_at), from_db(v.expired_at),
                       from_db(v.voided_at), redemption[0] if redemption else None,
                       redemption[1] if redemption else None, events)


@dataclass(frozen=True)
class TokenLine:
    vend_id: int
    pan: str
    kind: str
    token: str
    tid: int
    amount: int | None
    units: int | None
    source: str
    reprints: int
    vended_at: dt.datetime


def tokens_of(session: Session, account_no: str, *, limit: int = 20) -> list[TokenLine]:
    """The account's STS tokens, newest first (what the meter was sent; a reprint cannot add credit)."""
    return [TokenLine(r.id, r.pan, r.kind, r.token, r.tid, r.amount_minor, r.units, r.source, r.reprints or 0,
                      from_db(r.vended_at))
            for r in session.execute(select(StsVend).where(StsVend.account_no == account_no)
                                     .order_by(StsVend.id.desc()).limit(limit)).scalars()]
