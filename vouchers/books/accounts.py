"""Ledger accounts: create on first use, look up, lock in a fixed order, read balances."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import or_, select, tuple_
from sqlalchemy.orm import Session

from vouchers.books import chart
from vouchers.books.errors import AccountNotFound
from vouchers.books.sql import insert_ignoring_conflicts, is_postgres
from vouchers.books.timeutil import utc
from vouchers.storage.commit_hooks import state
from vouchers.storage.ledger_models import LedgerAccount
from vouchers.money import check_currency

AccountKey = tuple[str, str]  # (code, currency)

def find_accounts(session: Session, keys: Iterable[AccountKey]) -> dict[AccountKey, int]:
    wanted = sorted(set(keys))
    found: dict[AccountKey, int] = {}
    for start in range(0, len(wanted), 500):
        part = wanted[start:start + 500]
        rows = session.execute(
            select(LedgerAccount.code, LedgerAccount.currency, LedgerAccount.id)
            .where(tuple_(LedgerAccount.code, LedgerAccount.currency).in_(part))
        ).all()
        found.update({(code, currency): id_ for code, currency, id_ in rows})
    return found


def ensure_accounts(session: Session, keys: Iterable[AccountKey], now: dt.datetime) -> dict[AccountKey, int]:
    """Ids of the accounts, creating missing ones (in code order, so two
    creators never wait on each other in opposite orders)."""
    wanted = sorted(set(keys))
    for code, currency in wanted:
        chart.validate(code)
        check_currency(currency)
    found = find_accounts(session, wanted)
    missing = [k for k in wanted if k not in found]
    if missing:
        created_at = utc(now)
        for code, currency in missing:  # one row per statement keeps the order deterministic
            session.execute(
                insert_ignoring_conflicts(session, LedgerAccount.__table__, "code", "currency").values(
                    code=code, currency=currency, kind=chart.kind_of(code), balance=0, created_at=created_at))
        found.update(find_accounts(session, missing))
    return found


def ensure_account(session: Session, code: str, currency: str, now: dt.datetime) -> int:
    return ensure_accounts(session, [(code, currency)], now)[(code, currency)]


_per_party = or_(*(LedgerAccount.code.like(f"{name}:%") for name in chart.CLASSES if name not in chart.SHARED_CLASSES))


def lock_accounts(session: Session, account_ids: Iterable[int]) -> None:
    """Lock the balance rows in ascending id order (PostgreSQL; SQLite has one writer).

    Every writer of the books locks all the balance rows it will move before it
    claims or inserts anything, always in ascending id order, and takes the
    audit chain's lock only after the books; so writers can wait for each
    other but never in a cycle.
    """
    ids = sorted(set(account_ids))
    if not ids or not is_postgres(session):
        return
    # Shared accounts (chart.SHARED_CLASSES) are not locked here: their rows
    # are only moved at commit, after every per-party row (ledger.journal).
    session.execute(
        select(LedgerAccount.id).where(LedgerAccount.id.in_(ids), _per_party).order_by(LedgerAccount.id)
        .with_for_update(key_share=True)
    ).all()


def pending_shared_deltas(session: Session) -> dict[int, int]:
    """Moves of shared balance rows this transaction will apply at commit (ledger.journal)."""
    return state(session, "ledger_shared_balance_deltas", lambda: defaultdict(int))


def balance(session: Session, code: str, currency: str) -> int:
    """Balance (debits - credits) as this transaction sees it; 0 for an account never used."""
    row = session.execute(
        select(LedgerAccount.id, LedgerAccount.balance).where(LedgerAccount.code == code,
                                                              LedgerAccount.currency == currency)
    ).one_or_none()
    return 0 if row is None else int(row.balance) + pending_shared_deltas(session).get(row.id, 0)


def balance_by_id(session: Session, account_id: int) -> int:
    value = session.execute(select(LedgerAccount.balance).where(LedgerAccount.id == account_id)).scalar_one_or_none()
    if value is None:
        raise AccountNotFound(f"no ledger account with id {account_id}")
    return int(value) + pending_shared_deltas(session).get(account_id, 0)


def normal_balance(session: Session, code: str, currency: str) -> int:
    return chart.normal_balance(code, balance(session, code, currency))
