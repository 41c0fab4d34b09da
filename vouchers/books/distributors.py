"""Distributors (card sellers) and their commission rates."""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.orm import Session

from vouchers.books import chart, journal
from vouchers.books.errors import InvalidDistributor
from vouchers.books.sql import insert_ignoring_conflicts
from vouchers.books.timeutil import utc
from vouchers.storage import audit
from vouchers.storage.ledger_models import Distributor, LedgerAccount

DISTRIBUTOR_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
DEFAULT_COMMISSION_BP = 0  # basis points of face value; set per distributor


def validate_id(distributor_id: str) -> str:
    if not isinstance(distributor_id, str) or not DISTRIBUTOR_ID.match(distributor_id):
        raise InvalidDistributor(f"invalid distributor id {distributor_id!r}: 1-64 letters, digits, _ . -")
    return distributor_id


def commission_for(face_value: int, commission_bp: int) -> int:
    """Commission on one card, rounded half up to the minor unit (integers only)."""
    return (face_value * commission_bp + 5_000) // 10_000


def parse_rate(text: str) -> int:
    """``"1.5%"`` or ``"1.5"`` (percent) -> 150 basis points; at most two decimals, 0..100."""
    raw = text.strip().removesuffix("%").strip() if isinstance(text, str) else ""
    try:
        value = Decimal(raw)
    except InvalidOperation as e:
        raise InvalidDistributor(f"commission must be a percentage like 1.5%, got {text!r}") from e
    bp = value * 100
    if not value.is_finite() or bp != bp.to_integral_value() or not 0 <= bp <= 10_000:
        raise InvalidDistributor(f"commission must be 0-100% with at most two decimals, got {text!r}")
    return int(bp)


def find(session: Session, distributor_id: str) -> Distributor | None:
    return session.execute(select(Distributor).where(Distributor.distributor_id == distributor_id)).scalar_one_or_none()


def ensure_distributor(session: Session, distributor_id: str, now: dt.datetime) -> Distributor:
    """The distributor, registered with the default commission on first sale."""
    validate_id(distributor_id)
    found = find(session, distributor_id)
    if found is None:
        session.execute(insert_ignoring_conflicts(session, Distributor.__table__, "distributor_id").values(
            distributor_id=distributor_id, commission_bp=DEFAULT_COMMISSION_BP, created_at=utc(now)))
        found = find(session, distributor_id)
    assert found is not None
    return found


def set_commission(session: Session, distributor_id: str, commission_bp: int, *, now: dt.datetime, actor: str,
                   name: str | None = None) -> Distributor:
    """Set the rate for future activations (past sales keep the rate they were booked at)."""
    if isinstance(commission_bp, bool) or not isinstance(commission_bp, int) or not 0 <= commission_bp <= 10_000:
        raise InvalidDistributor("commission must be 0..10000 basis points")
    distributor = ensure_distributor(session, distributor_id, now)
    before = distributor.commission_bp
    distributor.commission_bp = commission_bp
    if name is not None:
        distributor.name = name.strip() or None
    audit.record(session, now=utc(now), actor=actor, action="distributor.commission", subject_type="distributor",
                 subject_id=distributor_id, details={"from_bp": before, "to_bp": commission_bp})
    session.flush()
    return distributor


def post_remittance(session: Session, distributor_id: str, amount: int, external_ref: str, *, now: dt.datetime,
                    actor: str) -> int:
    """A distributor pays for cards it sold: Dr bank, Cr distributor. Idempotent by reference."""
    validate_id(distributor_id)
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise InvalidDistributor("a remittance must be a positive amount of minor units")
    if find(session, distributor_id) is None:
        raise InvalidDistributor(f"unknown distributor {distributor_id!r}")
    currency = _currency_of(session, distributor_id)
    posted = journal.post(session, journal.Entry(
        kind="remittance", source=f"remittance:{distributor_id}", external_ref=external_ref,
        legs=(journal.debit(chart.BANK, amount, currency), journal.credit(chart.distributor(distributor_id), amount,
                                                                          currency)),
        occurred_at=now, actor=actor, memo=f"remittance from {distributor_id}"), now=now)
    return posted.transaction_id


def _currency_of(session: Session, distributor_id: str) -> str:
    currencies = list(session.execute(select(LedgerAccount.currency)
                                      .where(LedgerAccount.code == chart.distributor(distributor_id))).scalars())
    if len(currencies) != 1:
        raise InvalidDistributor(f"distributor {distributor_id} has no single currency account (sold nothing yet?)")
    return currencies[0]
