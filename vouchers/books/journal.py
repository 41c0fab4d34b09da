"""The journal: balanced, immutable, idempotent transactions.

The single write path of the books. A transaction is claimed by its unique
(source, external_ref) - a repeat finds the original instead of booking
twice - then receives its postings, and the stored balances move in the same
database transaction. Writers lock the balance rows they touch in ascending
id order *before* inserting anything (see :func:`vouchers.books.accounts.lock_accounts`).
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.orm import Session

from vouchers.books import chart
from vouchers.books.accounts import AccountKey, ensure_accounts, lock_accounts, pending_shared_deltas
from vouchers.books.errors import (
    BalanceOutOfRange,
    IdempotencyConflict,
    InvalidPosting,
    TransactionNotFound,
    UnbalancedTransaction,
)
from vouchers.books.sql import insert_ignoring_conflicts, is_postgres
from vouchers.books.timeutil import utc
from vouchers.storage import hot_sql
from vouchers.storage.commit_hooks import SHARED_BALANCES, at_commit
from vouchers.storage.ledger_models import LedgerAccount, LedgerPosting, LedgerTransaction

MAX_REF = 160
MAX_SOURCE = 64


@dataclass(frozen=True, slots=True)
class Leg:
    """One side of an entry: ``amount`` > 0 debits the account, < 0 credits it."""

    account: str
    amount: int
    currency: str

    @property
    def key(self) -> AccountKey:
        return (self.account, self.currency)


def debit(account: str, amount: int, currency: str) -> Leg:
    return Leg(account, _minor(amount), currency)


def credit(account: str, amount: int, currency: str) -> Leg:
    return Leg(account, -_minor(amount), currency)


def _minor(amount: int) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidPosting(f"amounts are integer minor units, not {type(amount).__name__}")
    return amount


@dataclass(frozen=True)
class Entry:
    kind: str
    source: str
    external_ref: str
    legs: tuple[Leg, ...]
    occurred_at: dt.datetime
    actor: str | None = None
    memo: str | None = None
    reverses_id: int | None = None


@dataclass(frozen=True)
class Posted:
    transaction_id: int
    created: bool  # False: (source, external_ref) was already booked with the same legs


def balanced_legs(legs: Iterable[Leg]) -> tuple[Leg, ...]:
    """Net the legs per (account, currency), drop zeros, check >= 2 and zero-sum per currency."""
    net: dict[AccountKey, int] = defaultdict(int)
    for leg in legs:
        if not isinstance(leg, Leg):
            raise InvalidPosting(f"expected a Leg, got {type(leg).__name__}")
        net[leg.key] += _minor(leg.amount)
    result = tuple(Leg(code, amount, currency) for (code, currency), amount in sorted(net.items()) if amount)
    per_currency: dict[str, int] = defaultdict(int)
    for leg in result:
        per_currency[leg.currency] += leg.amount
    unbalanced = {c: s for c, s in per_currency.items() if s}
    if unbalanced:
        raise UnbalancedTransaction(f"postings do not sum to zero: {unbalanced}")
    if len(result) < 2:
        raise UnbalancedTransaction("a transaction needs at least two non-zero postings")
    return result


def _check_header(source: str, external_ref: str, kind: str) -> None:
    for name, value, limit in (("source", source, MAX_SOURCE), ("external_ref", external_ref, MAX_REF),
                               ("kind", kind, 32)):
        if not isinstance(value, str) or not value or len(value) > limit or not value.isprintable():
            raise InvalidPosting(f"{name} must be 1..{limit} printable characters")


def find(session: Session, source: str, external_ref: str) -> LedgerTransaction | None:
    return session.execute(
        select(LedgerTransaction).where(LedgerTransaction.source == source,
                                        LedgerTransaction.external_ref == external_ref)
    ).scalar_one_or_none()


def get(session: Session, transaction_id: int) -> LedgerTransaction:
    found = session.get(LedgerTransaction, transaction_id)
    if found is None:
        raise TransactionNotFound(f"no journal transaction {transaction_id}")
    return found


def transaction_legs(session: Session, transaction_id: int) -> tuple[Leg, ...]:
    rows = session.execute(
        select(LedgerAccount.code, LedgerPosting.amount, LedgerPosting.currency)
        .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
        .where(LedgerPosting.transaction_id == transaction_id).order_by(LedgerPosting.line)
    ).all()
    return tuple(Leg(code, int(amount), currency) for code, amount, currency in rows)


def claim(session: Session, *, kind: str, source: str, external_ref: str, occurred_at: dt.datetime,
          now: dt.datetime, actor: str | None = None, memo: str | None = None,
          reverses_id: int | None = None) -> tuple[int, bool]:
    """Insert the transaction header unless (source, external_ref) exists: (id, created).

    On PostgreSQL a concurrent claim of the same key waits for the other
    writer and then sees its committed row: callers never get a duplicate-key
    error for an honest repeat.
    """
    _check_header(source, external_ref, kind)
    stmt = insert_ignoring_conflicts(session, LedgerTransaction.__table__, "source", "external_ref").values(
        kind=kind, source=source, external_ref=external_ref, occurred_at=utc(occurred_at), posted_at=utc(now),
        actor=actor, memo=memo, reverses_id=reverses_id,
    ).returning(LedgerTransaction.__table__.c.id)
    new_id = session.execute(stmt).scalar_one_or_none()
    if new_id is not None:
        return int(new_id), True
    existing = find(session, source, external_ref)
    if existing is None:  # pragma: no cover - a conflict on another unique index (reverses_id)
        raise IdempotencyConflict(f"{source}/{external_ref} could not be claimed")
    return existing.id, False


@dataclass(frozen=True)
class PostingPlan:
    """Balanced legs as posting rows, and how they move the stored balances."""

    legs: tuple[Leg, ...]
    rows: tuple[tuple[int, int, str, int], ...]  # (line, account id, currency, amount), lines from 1
    party_deltas: dict[int, int]  # per-party rows: moved with the postings (their writer locked them)
    shared_deltas: dict[int, int]  # shared rows (voucher_liability, ...): PostgreSQL moves them at commit


def plan_postings(session: Session, legs: Iterable[Leg], account_ids: Mapping[AccountKey, int]) -> PostingPlan:
    final = balanced_legs(legs)
    rows = tuple((line, account_ids[leg.key], leg.currency, leg.amount) for line, leg in enumerate(final, start=1))
    deltas: dict[int, int] = defaultdict(int)
    shared: set[int] = set()
    for leg, (_, account_id, _, amount) in zip(final, rows):
        deltas[account_id] += amount
        if chart.is_shared(leg.account):
            shared.add(account_id)
    shared_deltas = {account_id: deltas.pop(account_id) for account_id in shared} if is_postgres(session) else {}
    return PostingPlan(final, rows, {a: d for a, d in deltas.items() if d}, shared_deltas)


def add_postings(session: Session, transaction_id: int, legs: Iterable[Leg],
                 account_ids: Mapping[AccountKey, int]) -> tuple[Leg, ...]:
    """Insert the (already balanced) legs and move the stored balances, in id order."""
    plan = plan_postings(session, legs, account_ids)
    write_postings(session, transaction_id, plan)
    return plan.legs


def write_postings(session: Session, transaction_id: int, plan: PostingPlan) -> None:
    session.connection().execute(insert(LedgerPosting.__table__), [
        {"transaction_id": transaction_id, "line": line, "account_id": account_id, "currency": currency,
         "amount": amount} for line, account_id, currency, amount in plan.rows])
    if plan.shared_deltas:
        defer_shared_deltas(session, plan.shared_deltas)
    apply_balance_deltas(session, plan.party_deltas)


def defer_shared_deltas(session: Session, deltas: Mapping[int, int]) -> None:
    """Move shared balance rows at commit, in one ascending-id UPDATE with every
    other shared delta of the transaction (storage.commit_hooks); PostgreSQL only."""
    pending = pending_shared_deltas(session)
    for account_id, delta in deltas.items():
        pending[account_id] += delta
    at_commit(session, SHARED_BALANCES, "ledger-shared-balances", _apply_shared_deltas)


def _apply_shared_deltas(session: Session) -> None:
    apply_balance_deltas(session, pending_shared_deltas(session))


_LA = LedgerAccount.__table__
_MOVE_BALANCE = _LA.update().where(_LA.c.id == bindparam("aid")).values(balance=_LA.c.balance + bindparam("delta"))
# SQLite turns an integer overflow into a float without an error: the row moves only while the sum stays an
# integer (PostgreSQL refuses the plain UPDATE itself: bigint out of range).
_MOVE_BALANCE_IN_RANGE = _MOVE_BALANCE.where(func.typeof(_LA.c.balance + bindparam("delta")) == "integer")


def apply_balance_deltas(session: Session, deltas: Mapping[int, int]) -> None:
    """``UPDATE ... SET balance = balance + :delta`` per account, ascending id.

    Raises :class:`BalanceOutOfRange` on SQLite if a balance would leave 64 bits (PostgreSQL: ``DataError``).
    """
    params = [{"aid": aid, "delta": delta} for aid, delta in sorted(deltas.items()) if delta]
    if params and not is_postgres(session):
        for one in params:
            if session.connection().execute(_MOVE_BALANCE_IN_RANGE, one).rowcount != 1:
                raise BalanceOutOfRange(f"moving ledger account {one['aid']} by {one['delta']} would take its "
                                        "balance out of range")
    elif len(params) == 1:  # the usual case at commit (one shared row): the kept statement
        hot_sql.execute(session, _MOVE_BALANCE, params[0])
    elif params:
        session.connection().execute(_MOVE_BALANCE, params)


def post(session: Session, entry: Entry, *, now: dt.datetime) -> Posted:
    """Book ``entry`` once. A repeat with identical legs returns the original;
    a repeat with other legs raises :class:`IdempotencyConflict`."""
    legs = balanced_legs(entry.legs)
    _check_header(entry.source, entry.external_ref, entry.kind)
    existing = find(session, entry.source, entry.external_ref)
    if existing is not None:
        return _same_or_conflict(session, existing.id, entry, legs)
    ids = ensure_accounts(session, [leg.key for leg in legs], now)
    lock_accounts(session, ids.values())
    transaction_id, created = claim(session, kind=entry.kind, source=entry.source, external_ref=entry.external_ref,
                                    occurred_at=entry.occurred_at, now=now, actor=entry.actor, memo=entry.memo,
                                    reverses_id=entry.reverses_id)
    if not created:
        return _same_or_conflict(session, transaction_id, entry, legs)
    add_postings(session, transaction_id, legs, ids)
    return Posted(transaction_id, True)


def _same_or_conflict(session: Session, transaction_id: int, entry: Entry, legs: tuple[Leg, ...]) -> Posted:
    stored = balanced_legs(transaction_legs(session, transaction_id))
    if stored != legs:
        raise IdempotencyConflict(
            f"{entry.source}/{entry.external_ref} was already booked as transaction {transaction_id} "
            "with other postings")
    return Posted(transaction_id, False)
