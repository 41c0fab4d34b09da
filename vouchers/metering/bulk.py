"""Set-based writes for billing batches: COPY on PostgreSQL, executemany on SQLite.

:func:`post_legs` is the batch form of :func:`vouchers.books.journal.add_postings`:
the same checks (:func:`vouchers.books.journal.balanced_legs`: netted per account,
zero-sum per currency, at least two legs), the same rows and the same
balance movement (shared rows at commit), but on PostgreSQL the postings go
in by ``COPY`` and the per-party balances move in one
``UPDATE ... FROM unnest(...)`` instead of one statement per row. The books' triggers (append-only, zero-sum at commit)
see exactly what they would see from ``add_postings``. On SQLite it simply
calls ``add_postings``.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy import Table, insert, text
from sqlalchemy.orm import Session

from vouchers.books import journal
from vouchers.books.sql import is_postgres
from vouchers.books.accounts import AccountKey
from vouchers.books.errors import InvalidPosting, UnbalancedTransaction


def int_array(values: Iterable[int]) -> str:
    """A PostgreSQL array literal of integers (``{1,2,3}``), to be cast with ``CAST(:p AS bigint[])``.

    The driver adapts a Python list element by element; for the 10,000-element
    arrays of a billing batch the literal is several times cheaper to build."""
    return "{" + ",".join(map(str, values)) + "}"


# (table, columns) -> the columns' type oids, read from the catalogue once per process (the schema is
# fixed while a process runs; built-in type oids are the same in every database)
_COLUMN_TYPES: dict[tuple[str, tuple[str, ...]], list[int]] = {}


def column_types(cursor: Any, table: str, columns: Sequence[str]) -> list[int]:
    """The type oids of ``table``'s ``columns`` (for a binary COPY), cached per process."""
    key = (table, tuple(columns))
    types = _COLUMN_TYPES.get(key)
    if types is None:
        found = dict(cursor.execute(
            "SELECT attname, atttypid FROM pg_attribute WHERE attrelid = CAST(%s AS regclass) AND attnum > 0 "
            "AND NOT attisdropped", (table,)).fetchall())
        types = _COLUMN_TYPES[key] = [int(found[c]) for c in columns]
    return types


def fetch_rows(session: Session, statement: Any) -> list[tuple[Any, ...]]:
    """The rows of a Core SELECT as plain tuples of the driver's values, in the session's transaction.

    On PostgreSQL straight from the driver's cursor, without SQLAlchemy's
    result objects (a billing batch reads ~25,000 rows: their wrapping was a
    sixth of a worker's time); the statement must need no SQLAlchemy type
    processing of its parameters or results (plain strings, numbers, dates).
    Elsewhere through SQLAlchemy."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return [tuple(row) for row in connection.execute(statement).all()]
    compiled = statement.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
    with connection.connection.driver_connection.cursor() as cursor:
        cursor.execute(str(compiled), compiled.params)
        return cursor.fetchall()


# key -> the statement (built once per process) and, per dialect and parameter style, its SQL text
_STATEMENTS: dict[Hashable, Any] = {}
_SQL: dict[tuple[Hashable, str, str], str] = {}


def fetch_shaped(session: Session, key: Hashable, build: Callable[[], Any],
                 params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """:func:`fetch_rows` for a statement whose shape is fixed by ``key``: built by ``build()`` once per
    process, with named bind parameters (``bindparam("name", ...)``) that ``params`` fill in on every call.

    A billing batch runs the same few SELECTs for every batch; building and compiling them with
    SQLAlchemy took ~1.5 ms each, every time. On PostgreSQL the compiled SQL is kept and executed on the
    driver's cursor; elsewhere SQLAlchemy executes the kept statement (with its own compiled cache).
    ``params`` must name every bind parameter of the statement: a value the built statement holds is
    the first call's, never used."""
    statement = _STATEMENTS.get(key)
    if statement is None:
        statement = build()
        missing = set(statement.compile().binds) - set(params)
        if missing:
            raise ValueError(f"fetch_shaped({key!r}): no value for {sorted(missing)}")
        _STATEMENTS[key] = statement
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "postgresql":
        return [tuple(row) for row in connection.execute(statement, dict(params)).all()]
    sql_key = (key, dialect.name, dialect.paramstyle)
    sql = _SQL.get(sql_key)
    if sql is None:
        sql = _SQL[sql_key] = str(statement.compile(dialect=dialect))
    with connection.connection.driver_connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def copy_rows(session: Session, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """``COPY table (columns) FROM STDIN`` inside the session's transaction (PostgreSQL only).

    In PostgreSQL's binary format, typed by the columns' types: several times
    cheaper to produce than the text format (no escaping, no number-to-text),
    which was the largest client-side cost of a billing batch."""
    raw = session.connection().connection.driver_connection
    with raw.cursor() as cursor:
        types = column_types(cursor, table, columns)
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)


def post_legs(session: Session, transaction_id: int, legs: Iterable[journal.Leg],
              account_ids: Mapping[AccountKey, int]) -> tuple[journal.Leg, ...]:
    """Insert the legs of a claimed journal transaction and move the stored balances.

    As in :func:`vouchers.books.journal.add_postings`: per-party rows (customers) move
    now, in one statement; shared rows (``revenue:electricity``, expense and
    income accounts) are added to the transaction's pending shared deltas and
    moved by the books' commit hook, after every per-party row (the books'
    global lock order, docs/ledger.md).
    """
    if not is_postgres(session):
        return journal.add_postings(session, transaction_id, legs, account_ids)
    plan = journal.plan_postings(session, legs, account_ids)
    copy_rows(session, "ledger_postings", ("transaction_id", "line", "account_id", "currency", "amount"),
              ((transaction_id, *row) for row in plan.rows))
    ids = sorted(plan.party_deltas)
    if ids:
        session.execute(text(
            "UPDATE ledger_accounts AS a SET balance = a.balance + d.delta "
            "FROM unnest(CAST(:ids AS bigint[]), CAST(:deltas AS bigint[])) AS d(id, delta) WHERE a.id = d.id"),
            {"ids": int_array(ids), "deltas": int_array(plan.party_deltas[i] for i in ids)})
    if plan.shared_deltas:
        journal.defer_shared_deltas(session, plan.shared_deltas)
    return plan.legs


class Entry(NamedTuple):
    """One leg of a batch posting, with its ledger account resolved: ``amount`` > 0 debits.
    (A named tuple: immutable, and cheap to build for every account of a run.)"""

    code: str
    account_id: int
    currency: str
    amount: int
    shared: bool = False  # a shared row (revenue, expense): moved at commit


def post_entries(session: Session, transaction_id: int, entries: Sequence[Entry]) -> int:
    """Post ``entries`` to a claimed journal transaction; returns the number of postings.

    The same checks and effects as :func:`post_legs` (netted per account,
    zero-sum per currency, at least two postings; per-party balances now,
    shared rows at commit), for legs whose account ids are already known: on
    PostgreSQL without building the books' leg objects, which is most of the
    client-side cost of a 5,000-account batch. On SQLite it calls
    :func:`vouchers.books.journal.add_postings`.
    """
    if not is_postgres(session):
        legs = [journal.Leg(e.code, e.amount, e.currency) for e in entries]
        ids = {(e.code, e.currency): e.account_id for e in entries}
        return len(journal.add_postings(session, transaction_id, legs, ids))
    net: dict[tuple[int, str], int] = defaultdict(int)
    shared_ids: set[int] = set()
    for _, account_id, currency, amount, shared in entries:
        if type(amount) is not int:  # noqa: E721 - exactly int: not a bool, float or Decimal
            raise InvalidPosting(f"amounts are integer minor units, not {type(amount).__name__}")
        net[(account_id, currency)] += amount
        if shared:
            shared_ids.add(account_id)
    final = [item for item in net.items() if item[1]]
    final.sort()
    per_currency: dict[str, int] = defaultdict(int)
    for (_, currency), amount in final:
        per_currency[currency] += amount
    unbalanced = {c: total for c, total in per_currency.items() if total}
    if unbalanced:
        raise UnbalancedTransaction(f"postings do not sum to zero: {unbalanced}")
    if len(final) < 2:
        raise UnbalancedTransaction("a transaction needs at least two non-zero postings")
    copy_rows(session, "ledger_postings", ("transaction_id", "line", "account_id", "currency", "amount"),
              ((transaction_id, line, account_id, currency, amount)
               for line, ((account_id, currency), amount) in enumerate(final, start=1)))
    ids = [account_id for (account_id, _), _ in final if account_id not in shared_ids]
    if ids:
        session.execute(text(
            "UPDATE ledger_accounts AS a SET balance = a.balance + d.delta "
            "FROM unnest(CAST(:ids AS bigint[]), CAST(:deltas AS bigint[])) AS d(id, delta) WHERE a.id = d.id"),
            {"ids": int_array(ids),
             "deltas": int_array(amount for (account_id, _), amount in final if account_id not in shared_ids)})
    shared = {account_id: amount for (account_id, _), amount in final if account_id in shared_ids}
    if shared:
        journal.defer_shared_deltas(session, shared)
    return len(final)


def insert_returning_ids(session: Session, table: Table, columns: Sequence[str],
                         rows: Sequence[Sequence[Any]]) -> list[int]:
    """Insert ``rows`` (tuples in ``columns`` order) and return their new ids, in order.

    PostgreSQL: the ids are drawn from the table's sequence in one query and
    the rows go in by ``COPY``; elsewhere ``INSERT ... RETURNING``."""
    if not rows:
        return []
    if not is_postgres(session):
        return [int(i) for i in session.execute(
            insert(table).returning(table.c.id, sort_by_parameter_order=True),
            [dict(zip(columns, row, strict=True)) for row in rows]).scalars().all()]
    sequence = session.execute(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table.name}).scalar_one()
    ids = [int(i) for i in session.execute(text("SELECT nextval(CAST(:s AS regclass)) FROM generate_series(1, :n)"),
                                           {"s": sequence, "n": len(rows)}).scalars()]
    copy_rows(session, table.name, ["id", *columns], ((i, *row) for i, row in zip(ids, rows, strict=True)))
    return ids


def insert_rows(session: Session, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Insert ``rows`` (tuples in ``columns`` order): COPY on PostgreSQL, executemany elsewhere."""
    if not rows:
        return
    if not is_postgres(session):
        session.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])
        return
    copy_rows(session, table.name, columns, rows)
