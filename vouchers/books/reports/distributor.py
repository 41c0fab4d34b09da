"""A distributor's settlement statement: what it sold, earned, paid and still owes."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from vouchers.books import chart
from vouchers.books.errors import ReportError
from vouchers.books.reports.liability import ledger_balance_as_of
from vouchers.books.timeutil import from_db, utc
from vouchers.storage.ledger_models import (
    Distributor,
    LedgerAccount,
    LedgerPosting,
    LedgerTransaction,
    VoucherActivation,
)
from vouchers.storage.models import Batch
from vouchers.serials import Serial


@dataclass(frozen=True)
class StatementLine:
    at: dt.datetime
    kind: str  # activation | void | remittance | other
    reference: str
    count: int | None
    face_value: int | None
    commission: int | None
    amount: int  # change of what the distributor owes (+ more owed, - less)


@dataclass
class DistributorStatement:
    distributor_id: str
    name: str | None
    commission_bp: int
    currency: str
    start: dt.datetime
    end: dt.datetime
    opening: int
    lines: list[StatementLine] = field(default_factory=list)
    closing: int = 0
    sold_count: int = 0
    sold_face: int = 0
    commission: int = 0

    @property
    def closes(self) -> bool:
        return self.opening + sum(line.amount for line in self.lines) == self.closing


def distributor_statement(session: Session, distributor_id: str, *, start: dt.datetime, end: dt.datetime,
                          currency: str) -> DistributorStatement:
    d = session.execute(select(Distributor).where(Distributor.distributor_id == distributor_id)).scalar_one_or_none()
    if d is None:
        raise ReportError(f"unknown distributor {distributor_id!r}")
    s, e = utc(start), utc(end)
    code = chart.distributor(distributor_id)
    statement = DistributorStatement(distributor_id, d.name, d.commission_bp, currency, s, e,
                                     ledger_balance_as_of(session, code, currency, s))
    activations = {a.transaction_id: a for a in session.execute(
        select(VoucherActivation).where(VoucherActivation.distributor_pk == d.id)).scalars()}
    batches = dict(session.execute(select(Batch.id, Batch)).all()) if activations else {}
    rows = session.execute(
        select(LedgerTransaction.id, LedgerTransaction.kind, LedgerTransaction.posted_at,
               LedgerTransaction.external_ref, LedgerPosting.amount)
        .join(LedgerPosting, LedgerPosting.transaction_id == LedgerTransaction.id)
        .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
        .where(LedgerAccount.code == code, LedgerAccount.currency == currency, LedgerTransaction.posted_at >= s,
               LedgerTransaction.posted_at < e)
        .order_by(LedgerTransaction.posted_at, LedgerTransaction.id)).all()
    for tid, kind, posted_at, ref, amount in rows:
        at = from_db(posted_at) or posted_at
        activation = activations.get(tid)
        if activation is not None:
            b = batches[activation.batch_pk]
            reference = (f"{b.batch_id} {Serial(b.issuer_code, b.id, activation.first_sequence)}.."
                         f"{Serial(b.issuer_code, b.id, activation.last_sequence)}")
            face = activation.face_value * activation.count
            commission = activation.commission_each * activation.count
            statement.lines.append(StatementLine(at, "activation", reference, activation.count, face, commission,
                                                 int(amount)))
            statement.sold_count += activation.count
            statement.sold_face += face
            statement.commission += commission
        else:
            label = kind if kind in ("void", "remittance") else "other"
            statement.lines.append(StatementLine(at, label, ref, None, None, None, int(amount)))
    statement.closing = ledger_balance_as_of(session, code, currency, e)
    return statement
