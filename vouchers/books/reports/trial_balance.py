"""Trial balance as of an instant: debits and credits per account (or account class)."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vouchers.books import chart
from vouchers.books.timeutil import utc
from vouchers.storage.ledger_models import LedgerAccount, LedgerPosting, LedgerTransaction


@dataclass(frozen=True)
class TrialLine:
    account: str  # a code, or a class such as "customer_prepaid:*" when grouped
    kind: str
    accounts: int
    debit: int
    credit: int


@dataclass
class TrialBalance:
    as_of: dt.datetime
    currency: str
    lines: list[TrialLine] = field(default_factory=list)
    total_debit: int = 0
    total_credit: int = 0

    @property
    def balanced(self) -> bool:
        return self.total_debit == self.total_credit


def trial_balance(session: Session, *, as_of: dt.datetime, currency: str, detail: bool = False) -> TrialBalance:
    """Balances from postings of transactions posted before ``as_of``; per-customer and
    per-distributor accounts are summed by class unless ``detail``."""
    rows = session.execute(
        select(LedgerAccount.code, func.sum(LedgerPosting.amount))
        .join(LedgerPosting, LedgerPosting.account_id == LedgerAccount.id)
        .join(LedgerTransaction, LedgerTransaction.id == LedgerPosting.transaction_id)
        .where(LedgerAccount.currency == currency, LedgerTransaction.posted_at < utc(as_of))
        .group_by(LedgerAccount.code)).all()
    grouped: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # accounts, debit, credit
    for code, total in rows:
        total = int(total)
        name = chart.class_of(code)
        key = code if detail or name in ("bank", "voucher_liability", "revenue", "income", "expense", "clearing") \
            else f"{name}:*"
        entry = grouped[key]
        entry[0] += 1
        if total > 0:
            entry[1] += total
        else:
            entry[2] -= total
    report = TrialBalance(utc(as_of), currency)
    for key in sorted(grouped):
        n, debit, credit = grouped[key]
        if detail or not key.endswith(":*"):
            net = debit - credit
            debit, credit = (net, 0) if net > 0 else (0, -net)
        report.lines.append(TrialLine(key, chart.kind_of(key.replace(":*", ":x")), n, debit, credit))
        report.total_debit += debit
        report.total_credit += credit
    return report
