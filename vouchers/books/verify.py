"""``ledger verify``: recompute the books from the postings and cross-check them.

Every check is one set-based query, so it stays usable on millions of postings. A problem carries the
amounts in minor units (``expected``, ``actual``); its message shows them as decimals with the currency.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import and_, func, literal, select, union_all
from sqlalchemy.orm import Session

from vouchers.books import chart
from vouchers.storage.api_models import FraudHold
from vouchers.storage.ledger_models import (
    BillAllocation,
    CustomerAccount,
    CustomerBill,
    LedgerAccount,
    LedgerPosting,
    LedgerTransaction,
    Payment,
)
from vouchers.storage.ledger_models import vouchers_lifecycle as V
from vouchers.money import format_amount

MAX_LISTED = 50


def _money(minor: int, currency: str) -> str:
    return f"{format_amount(int(minor))} {currency}"


@dataclass(frozen=True)
class Problem:
    check: str
    subject: str
    expected: int | None
    actual: int | None
    message: str

    def as_dict(self) -> dict[str, object]:
        return {"check": self.check, "subject": self.subject, "expected": self.expected, "actual": self.actual,
                "message": self.message}


@dataclass
class VerifyReport:
    accounts: int = 0
    transactions: int = 0
    postings: int = 0
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    liability: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, check: str, subject: str, expected: int | None, actual: int | None, message: str) -> None:
        self.problems.append(Problem(check, subject, expected, actual, message))


def verify(session: Session, *, today: dt.date | None = None) -> VerifyReport:
    """All invariants of the books; ``today`` (local) adds a warning for cards overdue for expiry."""
    report = VerifyReport()
    report.accounts = session.execute(select(func.count()).select_from(LedgerAccount)).scalar_one()
    report.transactions = session.execute(select(func.count()).select_from(LedgerTransaction)).scalar_one()
    report.postings = session.execute(select(func.count()).select_from(LedgerPosting)).scalar_one()
    _balances(session, report)
    _zero_sum(session, report)
    _reversals(session, report)
    _voucher_liability(session, report, today)
    _arrears(session, report)
    _bills(session, report)
    _clearing(session, report)
    _held_funds(session, report)
    return report


def _balances(session: Session, report: VerifyReport) -> None:
    sums = (select(LedgerPosting.account_id, func.sum(LedgerPosting.amount).label("total"))
            .group_by(LedgerPosting.account_id).subquery())
    derived = func.coalesce(sums.c.total, 0)
    rows = session.execute(
        select(LedgerAccount.code, LedgerAccount.currency, LedgerAccount.balance, derived)
        .outerjoin(sums, sums.c.account_id == LedgerAccount.id)
        .where(LedgerAccount.balance != derived).order_by(LedgerAccount.id).limit(MAX_LISTED)).all()
    for code, currency, stored, total in rows:
        report.add("balance", f"{code} {currency}", int(total), int(stored),
                   f"stored balance {_money(stored, currency)} != sum of postings {_money(total, currency)}")


def _zero_sum(session: Session, report: VerifyReport) -> None:
    rows = session.execute(
        select(LedgerPosting.transaction_id, LedgerPosting.currency, func.sum(LedgerPosting.amount))
        .group_by(LedgerPosting.transaction_id, LedgerPosting.currency)
        .having(func.sum(LedgerPosting.amount) != 0).limit(MAX_LISTED)).all()
    for transaction_id, currency, total in rows:
        report.add("zero_sum", f"transaction {transaction_id}", 0, int(total),
                   f"postings in {currency} sum to {_money(total, currency)}")
    counts = (select(LedgerPosting.transaction_id, func.count().label("n"))
              .group_by(LedgerPosting.transaction_id).subquery())
    rows = session.execute(
        select(LedgerTransaction.id, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.transaction_id == LedgerTransaction.id)
        .where(func.coalesce(counts.c.n, 0) < 2).limit(MAX_LISTED)).all()
    for transaction_id, n in rows:
        report.add("zero_sum", f"transaction {transaction_id}", 2, int(n), f"has {n} postings (needs >= 2)")


def _reversals(session: Session, report: VerifyReport) -> None:
    """A reversal's postings are the exact negation of its original's."""
    r = LedgerTransaction.__table__.alias("r")
    p = LedgerPosting.__table__
    own = select(r.c.id.label("rid"), p.c.account_id, p.c.amount).join(p, p.c.transaction_id == r.c.id) \
        .where(r.c.kind == "reversal")
    mirrored = select(r.c.id.label("rid"), p.c.account_id, p.c.amount).join(p, p.c.transaction_id == r.c.reverses_id) \
        .where(r.c.kind == "reversal")
    both = union_all(own, mirrored).subquery()
    rows = session.execute(select(both.c.rid, both.c.account_id, func.sum(both.c.amount))
                           .group_by(both.c.rid, both.c.account_id).having(func.sum(both.c.amount) != 0)
                           .limit(MAX_LISTED)).all()
    for rid, account_id, total in rows:
        report.add("reversal", f"transaction {rid}", 0, int(total),
                   f"does not mirror its original on account id {account_id}")
    reversed_payments = session.execute(select(func.count()).where(Payment.status == "reversed")).scalar_one()
    payment_reversals = session.execute(select(func.count()).where(LedgerTransaction.kind == "payment_reversal")
                                        ).scalar_one()
    if reversed_payments != payment_reversals:
        report.add("reversal", "payments", int(reversed_payments), int(payment_reversals),
                   "reversed payments and payment reversal transactions differ in number")


def _voucher_liability(session: Session, report: VerifyReport, today: dt.date | None) -> None:
    ledger = dict(session.execute(select(LedgerAccount.currency, LedgerAccount.balance)
                                  .where(LedgerAccount.code == chart.VOUCHER_LIABILITY)).all())
    cards = {c: (int(n), int(s)) for c, n, s in session.execute(
        select(V.c.currency, func.count(), func.sum(V.c.face_value)).where(V.c.status == "active")
        .group_by(V.c.currency)).all()}
    for currency in sorted(set(ledger) | set(cards)):
        on_books = -int(ledger.get(currency, 0))
        count, face = cards.get(currency, (0, 0))
        report.liability[currency] = {"ledger": on_books, "active_face_value": face, "active_count": count}
        if on_books != face:
            report.add("voucher_liability", currency, face, on_books,
                       f"voucher_liability {_money(on_books, currency)} != face value of {count} active cards "
                       f"{_money(face, currency)}")
    if today is not None:
        overdue = session.execute(select(V.c.currency, func.count(), func.sum(V.c.face_value))
                                  .where(V.c.status == "active", V.c.expires < today)
                                  .group_by(V.c.currency).order_by(V.c.currency)).all()
        if overdue:
            report.warnings.append(f"{sum(int(n) for _, n, _ in overdue)} active cards ("
                                   + ", ".join(_money(face, currency) for currency, _, face in overdue)
                                   + ") are past their last valid day: run `voucherctl vouchers expire`")


def _arrears(session: Session, report: VerifyReport) -> None:
    owed = (select(CustomerBill.customer_id, func.sum(CustomerBill.outstanding).label("total"))
            .group_by(CustomerBill.customer_id).subquery())
    derived = func.coalesce(owed.c.total, 0)
    rows = session.execute(
        select(CustomerAccount.account_no, LedgerAccount.currency, LedgerAccount.balance, derived)
        .join(LedgerAccount, LedgerAccount.id == CustomerAccount.arrears_account_id)
        .outerjoin(owed, owed.c.customer_id == CustomerAccount.id)
        .where(LedgerAccount.balance != derived).limit(MAX_LISTED)).all()
    for account_no, currency, stored, total in rows:
        report.add("arrears", account_no, int(total), int(stored),
                   f"arrears on the books {_money(stored, currency)} != outstanding bills {_money(total, currency)}")


def _bills(session: Session, report: VerifyReport) -> None:
    applied = (select(BillAllocation.bill_id, func.sum(BillAllocation.amount).label("total"))
               .group_by(BillAllocation.bill_id).subquery())
    expected = CustomerBill.amount - func.coalesce(applied.c.total, literal(0))
    rows = session.execute(select(CustomerBill.id, CustomerBill.bill_ref, CustomerAccount.currency,
                                  CustomerBill.outstanding, expected)
                           .join(CustomerAccount, CustomerAccount.id == CustomerBill.customer_id)
                           .outerjoin(applied, applied.c.bill_id == CustomerBill.id)
                           .where(CustomerBill.outstanding != expected).limit(MAX_LISTED)).all()
    for bill_id, ref, currency, outstanding, should in rows:
        report.add("bill", f"bill {bill_id} ({ref})", int(should), int(outstanding),
                   f"outstanding {_money(outstanding, currency)} != amount minus allocations "
                   f"{_money(should, currency)}")


def _clearing(session: Session, report: VerifyReport) -> None:
    """A channel's clearing balance == its booked payments not yet settled."""
    unsettled = {(ch, cur): int(total) for ch, cur, total in session.execute(
        select(Payment.channel, Payment.currency, func.sum(Payment.amount))
        .where(and_(Payment.status == "booked", Payment.reconciliation_id.is_(None), Payment.channel != "voucher"))
        .group_by(Payment.channel, Payment.currency)).all()}
    books = {(code.partition(":")[2], cur): int(bal) for code, cur, bal in session.execute(
        select(LedgerAccount.code, LedgerAccount.currency, LedgerAccount.balance)
        .where(LedgerAccount.code.like("clearing:%"))).all()}
    for key in sorted(set(unsettled) | set(books)):
        if unsettled.get(key, 0) != books.get(key, 0):
            report.add("clearing", f"clearing:{key[0]} {key[1]}", unsettled.get(key, 0), books.get(key, 0),
                       f"clearing balance {_money(books.get(key, 0), key[1])} != booked, unsettled payments of the "
                       f"channel {_money(unsettled.get(key, 0), key[1])}")


def _held_funds(session: Session, report: VerifyReport) -> None:
    """``liability:held_funds`` == the money of the holds still held (fraud review), per currency."""
    held = {cur: int(total) for cur, total in session.execute(
        select(FraudHold.currency, func.sum(FraudHold.amount)).where(FraudHold.status == "held")
        .group_by(FraudHold.currency)).all()}
    books = {cur: -int(bal) for cur, bal in session.execute(
        select(LedgerAccount.currency, LedgerAccount.balance).where(LedgerAccount.code == chart.HELD_FUNDS)).all()}
    for currency in sorted(set(held) | set(books)):
        if held.get(currency, 0) != books.get(currency, 0):
            report.add("held_funds", f"{chart.HELD_FUNDS} {currency}", held.get(currency, 0), books.get(currency, 0),
                       f"held funds on the books {_money(books.get(currency, 0), currency)} != money of open holds "
                       f"{_money(held.get(currency, 0), currency)}")
