"""Statements: a customer account's movements over local days, and a distributor's stock and settlement.

An account's position is its prepaid balance less its arrears (positive: the
customer's money with us). The statement lists every journal transaction
that moved either of the account's two ledger accounts in the period (bill,
late fee, payment, redemption, energy sale, prepaid applied to a bill,
reversal) and computes the closing position from the opening one; the
closing position is also read from the ledger and both are reported, so a
statement that does not add up says so.

A distributor's stock and statement are scoped: a caller acting for one
distributor (its API client) sees only its own (:class:`OutOfScope` for
another, indistinguishable from an unknown distributor).
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from vouchers.books import chart
from vouchers.books.customers import get_customer
from vouchers.books.errors import UnknownAccount
from vouchers.books.reports.distributor import DistributorStatement, distributor_statement
from vouchers.books.reports.liability import ledger_balance_as_of
from vouchers.books.timeutil import end_of_day, from_db, start_of_day
from vouchers.errors import VoucherError
from vouchers.serials import Serial
from vouchers.services.lists import InvalidQuery
from vouchers.storage.ledger_models import (
    Consignment,
    Distributor,
    LedgerPosting,
    LedgerTransaction,
    Payment,
)
from vouchers.storage.ledger_models import vouchers_lifecycle as V
from vouchers.storage.models import Batch

MAX_DAYS = 366 * 5


class AccountNotFound(VoucherError):
    code = "unknown_account"


class DistributorNotFound(VoucherError):
    """Unknown, or not the caller's own (one answer for both: no oracle of other distributors' ids)."""

    code = "unknown_distributor"


@dataclass(frozen=True)
class Period:
    first: dt.date
    last: dt.date
    start: dt.datetime  # UTC, inclusive
    end: dt.datetime  # UTC, exclusive


def local_period(first: dt.date, last: dt.date, tz: str) -> Period:
    """Local days ``first..last`` (inclusive) as UTC instants; bad or huge periods raise InvalidQuery."""
    if first > last:
        raise InvalidQuery(f"from {first} is after to {last}")
    if (last - first).days > MAX_DAYS:
        raise InvalidQuery(f"a period covers at most {MAX_DAYS} days")
    try:
        return Period(first, last, start_of_day(first, tz), end_of_day(last, tz))
    except OverflowError as e:
        raise InvalidQuery("the dates are out of range") from e


# --- customer account statement -------------------------------------------------------------------


@dataclass(frozen=True)
class StatementLine:
    at: dt.datetime
    kind: str  # bill | late_fee | payment | redemption | energy_sale | prepaid_applied | reversal | ...
    reference: str
    transaction_id: int
    arrears: int  # change of the arrears (+ more owed)
    prepaid: int  # change of the prepaid balance (+ more credit)
    channel: str | None = None

    @property
    def amount(self) -> int:
        """Change of the position (prepaid - arrears)."""
        return self.prepaid - self.arrears


@dataclass
class AccountStatement:
    account_no: str
    name: str
    currency: str
    period: Period
    opening: int  # position = prepaid - arrears
    opening_arrears: int
    opening_prepaid: int
    lines: list[StatementLine] = field(default_factory=list)
    closing: int = 0  # from the ledger
    closing_arrears: int = 0
    closing_prepaid: int = 0

    @property
    def computed_closing(self) -> int:
        return self.opening + sum(line.amount for line in self.lines)

    @property
    def closes(self) -> bool:
        return self.computed_closing == self.closing

    def totals(self) -> dict[str, int]:
        """Position change per kind of movement."""
        out: dict[str, int] = defaultdict(int)
        for line in self.lines:
            out[line.kind] += line.amount
        return dict(out)


def account_statement(session: Session, account_no: str, *, first: dt.date, last: dt.date, tz: str
                      ) -> AccountStatement:
    """Opening position, every movement of local days ``first..last``, closing position (from the ledger)."""
    period = local_period(first, last, tz)
    try:
        customer = get_customer(session, account_no)
    except UnknownAccount as e:
        raise AccountNotFound(f"no electricity account {account_no}") from e
    cur = customer.currency
    arrears_code, prepaid_code = chart.customer_arrears(customer.account_no), chart.customer_prepaid(customer.account_no)

    def position(instant: dt.datetime) -> tuple[int, int]:
        return (ledger_balance_as_of(session, arrears_code, cur, instant),
                ledger_balance_as_of(session, prepaid_code, cur, instant))

    oa, op = position(period.start)
    statement = AccountStatement(customer.account_no, customer.name, cur, period, op - oa, oa, op)
    ids = (customer.arrears_account_id, customer.prepaid_account_id)
    rows = session.execute(
        select(LedgerTransaction.id, LedgerTransaction.kind, LedgerTransaction.posted_at,
               LedgerTransaction.external_ref, LedgerPosting.account_id, func.sum(LedgerPosting.amount))
        .join(LedgerPosting, LedgerPosting.transaction_id == LedgerTransaction.id)
        .where(LedgerPosting.account_id.in_(ids), LedgerPosting.currency == cur,
               LedgerTransaction.posted_at >= period.start, LedgerTransaction.posted_at < period.end)
        .group_by(LedgerTransaction.id, LedgerTransaction.kind, LedgerTransaction.posted_at,
                  LedgerTransaction.external_ref, LedgerPosting.account_id)
        .order_by(LedgerTransaction.posted_at, LedgerTransaction.id)).all()
    moves: dict[int, list] = {}
    for tid, kind, posted_at, ref, account_id, total in rows:
        entry = moves.setdefault(tid, [kind, from_db(posted_at) or posted_at, ref, 0, 0])
        if account_id == customer.arrears_account_id:
            entry[3] += int(total)  # debit-positive: a bill raises the arrears
        else:
            entry[4] -= int(total)  # credit-normal: a payment's credit raises the balance
    payments = {tid: (channel, ref) for tid, channel, ref in session.execute(
        select(Payment.transaction_id, Payment.channel, Payment.external_ref)
        .where(Payment.customer_id == customer.id, Payment.transaction_id.in_(list(moves)))).all()} if moves else {}
    for tid, (kind, at, ref, d_arrears, d_prepaid) in moves.items():
        channel, reference = payments.get(tid, (None, ref))
        label = {"payment_import": "payment", "billing": "bill"}.get(kind, kind)
        if channel == "voucher":
            label = "redemption"
        statement.lines.append(StatementLine(at, label, reference, tid, d_arrears, d_prepaid, channel))
    ca, cp = position(period.end)
    statement.closing_arrears, statement.closing_prepaid, statement.closing = ca, cp, cp - ca
    return statement


# --- distributors ----------------------------------------------------------------------------------


def _distributor(session: Session, distributor_id: str, acting_for: str | None) -> Distributor:
    """The distributor, if the caller may see it (``acting_for``: the caller's own distributor, or None)."""
    if acting_for is not None and distributor_id != acting_for:
        raise DistributorNotFound(f"no distributor {distributor_id!r} for this caller")
    row = None
    if isinstance(distributor_id, str) and 0 < len(distributor_id) <= 64:
        row = session.execute(select(Distributor).where(Distributor.distributor_id == distributor_id)
                              ).scalar_one_or_none()
    if row is None:
        raise DistributorNotFound(f"no distributor {distributor_id!r}" + (" for this caller" if acting_for else ""))
    return row


@dataclass(frozen=True)
class StockLine:
    batch_id: str
    face_value: int
    currency: str
    expires: dt.date
    in_stock: int  # consigned, not yet sold (inactive)
    sold: int  # active (sold, not yet redeemed)
    redeemed: int
    expired: int
    void: int


@dataclass(frozen=True)
class ConsignmentLine:
    batch_id: str
    first_serial: str
    last_serial: str
    count: int
    at: dt.datetime


@dataclass(frozen=True)
class DistributorStock:
    distributor_id: str
    name: str | None
    lines: tuple[StockLine, ...]
    consignments: tuple[ConsignmentLine, ...]

    @property
    def in_stock(self) -> int:
        return sum(x.in_stock for x in self.lines)

    @property
    def in_stock_value(self) -> int:
        return sum(x.in_stock * x.face_value for x in self.lines)


_STATUS_FIELD = {"inactive": "in_stock", "active": "sold", "redeemed": "redeemed", "expired": "expired",
                 "void": "void"}


def distributor_stock(session: Session, distributor_id: str, *, acting_for: str | None = None) -> DistributorStock:
    """The cards that are ``distributor_id``'s (shipped to it, or sold by it), per batch and status."""
    d = _distributor(session, distributor_id, acting_for)
    rows = session.execute(
        select(V.c.batch_pk, V.c.face_value, V.c.currency, V.c.expires, V.c.status, func.count())
        .where(or_(V.c.consigned_to == distributor_id,
                   (V.c.consigned_to.is_(None)) & (V.c.distributor_id == distributor_id)))
        .group_by(V.c.batch_pk, V.c.face_value, V.c.currency, V.c.expires, V.c.status)).all()
    batches = {b.id: b for b in session.execute(select(Batch)).scalars()} if rows else {}
    cells: dict[tuple, dict[str, int]] = defaultdict(lambda: dict.fromkeys(_STATUS_FIELD.values(), 0))
    for batch_pk, face, currency, expires, status, n in rows:
        cells[(batches[batch_pk].batch_id, int(face), currency, expires)][_STATUS_FIELD.get(status, "void")] += int(n)
    lines = tuple(StockLine(b, f, c, e, **counts) for (b, f, c, e), counts in sorted(cells.items()))
    shipped = session.execute(select(Consignment, Batch).join(Batch, Batch.id == Consignment.batch_pk)
                              .where(Consignment.distributor_pk == d.id).order_by(Consignment.id)).all()
    consignments = tuple(ConsignmentLine(b.batch_id, str(Serial(b.issuer_code, b.id, c.first_sequence)),
                                         str(Serial(b.issuer_code, b.id, c.last_sequence)), c.count,
                                         from_db(c.consigned_at) or c.consigned_at) for c, b in shipped)
    return DistributorStock(d.distributor_id, d.name, lines, consignments)


def distributor_settlement(session: Session, distributor_id: str, *, first: dt.date, last: dt.date, tz: str,
                           currency: str, acting_for: str | None = None) -> DistributorStatement:
    """The settlement statement of local days ``first..last`` (what it sold, earned, paid, owes)."""
    _distributor(session, distributor_id, acting_for)
    period = local_period(first, last, tz)
    return distributor_statement(session, distributor_id, start=period.start, end=period.end, currency=currency)
