"""A batch's state changes that need no signing key: approve (maker-checker), void, any checked transition.

They live below ``issuer`` so that the web console can record an approval or a
rejection without importing signing code; ``issuer.batches`` calls these same
functions, so the flow exists once.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from vouchers.errors import VoucherError
from vouchers.lifecycle import check_batch_transition
from vouchers.storage import audit
from vouchers.storage.models import Batch, Voucher


class BatchNotFound(VoucherError):
    code = "batch_not_found"


class MakerCheckerViolation(VoucherError):
    code = "maker_checker"


class BatchStateError(VoucherError):
    code = "batch_state"


def get_batch(session: Session, batch_id: str, *, for_update: bool = False) -> Batch:
    query = select(Batch).where(Batch.batch_id == batch_id)
    batch = session.execute(query.with_for_update() if for_update else query).scalar_one_or_none()
    if batch is None:
        raise BatchNotFound(f"no batch {batch_id!r}")
    return batch


def transition(session: Session, batch: Batch, target: str, actor: str, now: dt.datetime,
               reason: str | None = None) -> None:
    try:
        check_batch_transition(batch.status, target)
    except Exception as e:
        raise BatchStateError(f"batch {batch.batch_id} is {batch.status}: cannot become {target}") from e
    audit.record(session, now=now, actor=actor, action=f"batch.{target}", subject_type="batch",
                 subject_id=batch.batch_id, from_state=batch.status, to_state=target, reason=reason)
    batch.status = target


def approve(session: Session, batch_id: str, operator: str, now: dt.datetime) -> Batch:
    """The checker's approval: anyone but the batch's creator."""
    batch = get_batch(session, batch_id, for_update=True)
    if operator.strip().casefold() == batch.created_by.strip().casefold():
        raise MakerCheckerViolation(f"{operator} created batch {batch_id} and cannot approve it: a second person must")
    transition(session, batch, "approved", operator, now)
    batch.approved_by, batch.approved_at = operator, now
    return batch


def void(session: Session, batch_id: str, reason: str, operator: str, now: dt.datetime,
         on_void: Callable[[Session, Batch], None] | None = None) -> tuple[Batch, int]:
    """Void a batch (a draft rejected, or stock lost) and every unredeemed voucher in it."""
    batch = get_batch(session, batch_id, for_update=True)
    transition(session, batch, "void", operator, now, reason=reason)
    batch.void_reason = reason
    if on_void is not None:
        on_void(session, batch)  # the books reverse the liability of activated stock first
    result = session.execute(
        update(Voucher).where(Voucher.batch_pk == batch.id, Voucher.status.in_(("inactive", "active")))
        .values(status="void", updated_at=now))
    return batch, result.rowcount


def status_counts(session: Session, batch: Batch) -> dict[str, int]:
    rows = session.execute(select(Voucher.status, func.count()).where(Voucher.batch_pk == batch.id)
                           .group_by(Voucher.status)).all()
    return {status: n for status, n in rows}


def stock_by_holder(session: Session, batch: Batch) -> list[dict[str, object]]:
    """Cards by whose stock they are (``consigned_to``, None = still with the issuer) and status."""
    rows = session.execute(select(Voucher.consigned_to, Voucher.status, func.count())
                           .where(Voucher.batch_pk == batch.id).group_by(Voucher.consigned_to, Voucher.status)
                           .order_by(Voucher.consigned_to.is_(None), Voucher.consigned_to, Voucher.status)).all()
    return [{"consigned_to": holder, "status": status, "count": n} for holder, status, n in rows]
