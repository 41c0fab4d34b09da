"""Temporary staging tables for channel files and how lines get into them.

PostgreSQL fast path: the file's bytes are streamed into a raw text table by
COPY, each block first matched by :class:`vouchers.books.fastcsv.BlockChecker` (never
more lenient than the reference parser, :mod:`vouchers.books.csvformat`), then typed
in one set-based pass. Any failure - an unusual or bad line, bad encoding,
an impossible date - discards that work and the reference parser reads the
file, reporting every bad line. Otherwise (SQLite,
adapters) checked lines go in by ``COPY`` (PostgreSQL) or ``executemany``
(SQLite) in chunks. Staging tables are temporary: they vanish with the
transaction (PostgreSQL) or are emptied before use (SQLite, per connection).
"""
from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from vouchers.books.csvformat import MAX_REPORTED_ERRORS, PaymentLine, read_generic
from vouchers.books.errors import LineError
from vouchers.books.fastcsv import BlockChecker
from vouchers.books.sql import is_postgres

CHUNK = 10_000
_BLOCK = 1 << 20
STAGE = "ledger_stage"
RAW = "ledger_stage_raw"
ALLOC = "ledger_stage_alloc"
CUSTOMERS = "ledger_stage_customers"


def create_stage(session: Session, name: str = STAGE) -> None:
    """``name``: one checked line per row, plus what the booking fills in."""
    if is_postgres(session):
        session.execute(text(
            f"CREATE TEMP TABLE IF NOT EXISTS {name} (line_no bigint NOT NULL, external_ref text, account_no text, "
            "amount bigint, currency text, paid_at timestamptz, customer_id bigint, arrears_account_id bigint, "
            "prepaid_account_id bigint, account_currency text, existing_id bigint, existing_same boolean) "
            "ON COMMIT DROP"))
        session.execute(text(f"TRUNCATE {name}"))
    else:
        session.execute(text(
            f"CREATE TEMP TABLE IF NOT EXISTS {name} (line_no INTEGER NOT NULL, external_ref TEXT NOT NULL, "
            "account_no TEXT NOT NULL, amount INTEGER NOT NULL, currency TEXT NOT NULL, paid_at TEXT NOT NULL, "
            "customer_id INTEGER, arrears_account_id INTEGER, prepaid_account_id INTEGER, account_currency TEXT, "
            "existing_id INTEGER, existing_same INTEGER)"))
        session.execute(text(f"DELETE FROM {name}"))
        session.execute(text(f"CREATE INDEX IF NOT EXISTS temp.{name}_ref ON {name} (external_ref)"))
        session.execute(text(f"CREATE INDEX IF NOT EXISTS temp.{name}_line ON {name} (line_no)"))


def create_raw(session: Session) -> None:
    """PostgreSQL only: the file's five columns as text, numbered in file order."""
    session.execute(text(
        f"CREATE TEMP TABLE IF NOT EXISTS {RAW} (line_no bigint GENERATED ALWAYS AS IDENTITY, external_ref text, "
        "account_no text, amount text, currency text, paid_at text) ON COMMIT DROP"))
    session.execute(text(f"TRUNCATE {RAW} RESTART IDENTITY"))


def create_alloc(session: Session) -> None:
    if is_postgres(session):
        session.execute(text(f"CREATE TEMP TABLE IF NOT EXISTS {ALLOC} (line_no bigint NOT NULL, "
                             "external_ref text NOT NULL, currency text NOT NULL, bill_id bigint NOT NULL, "
                             "amount bigint NOT NULL) ON COMMIT DROP"))
        session.execute(text(f"TRUNCATE {ALLOC}"))
    else:
        session.execute(text(f"CREATE TEMP TABLE IF NOT EXISTS {ALLOC} (line_no INTEGER NOT NULL, "
                             "external_ref TEXT NOT NULL, currency TEXT NOT NULL, bill_id INTEGER NOT NULL, "
                             "amount INTEGER NOT NULL)"))
        session.execute(text(f"DELETE FROM {ALLOC}"))


def create_customers(session: Session) -> None:
    """:data:`CUSTOMERS`: the stage summed per customer and currency in one pass, with the customer's
    accounts and currency (NULL for an unknown account)."""
    summary = ("SELECT g.customer_id, g.currency, c.arrears_account_id, c.prepaid_account_id, "
               "c.currency AS account_currency, g.lines, g.amount FROM (SELECT customer_id, currency, "
               f"count(*) AS lines, sum(amount) AS amount FROM {STAGE} GROUP BY customer_id, currency) g "
               "LEFT JOIN customer_accounts c ON c.id = g.customer_id")
    if is_postgres(session):
        session.execute(text(f"DROP TABLE IF EXISTS {CUSTOMERS}"))
        session.execute(text(f"CREATE TEMP TABLE {CUSTOMERS} ON COMMIT DROP AS {summary}"))
        session.execute(text(f"ANALYZE {CUSTOMERS}"))
    else:
        session.execute(text(f"DROP TABLE IF EXISTS temp.{CUSTOMERS}"))
        session.execute(text(f"CREATE TEMP TABLE {CUSTOMERS} AS {summary}"))


def _sqlite_time(value: dt.datetime) -> str:
    """The text SQLAlchemy stores for a UTC datetime on SQLite (so comparisons line up)."""
    return value.astimezone(dt.timezone.utc).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


class StageWriter:
    """Buffers checked lines and writes them to the stage in chunks."""

    def __init__(self, session: Session, name: str = STAGE) -> None:
        self.session, self.name = session, name
        self.buffer: list[PaymentLine] = []
        self.count = 0
        self.postgres = is_postgres(session)

    def add(self, line: PaymentLine) -> None:
        self.buffer.append(line)
        if len(self.buffer) >= CHUNK:
            self.flush()

    def extend(self, lines: Iterable[PaymentLine]) -> None:
        for line in lines:
            self.add(line)

    def flush(self) -> None:
        if not self.buffer:
            return
        columns = "line_no, external_ref, account_no, amount, currency, paid_at"
        raw = self.session.connection().connection.driver_connection
        if self.postgres:
            with raw.cursor() as cursor:
                with cursor.copy(f"COPY {self.name} ({columns}) FROM STDIN") as copy:
                    for p in self.buffer:
                        copy.write_row((p.line, p.external_ref, p.account_no, p.amount, p.currency, p.paid_at))
        else:
            cursor = raw.cursor()
            try:
                cursor.executemany(f"INSERT INTO {self.name} ({columns}) VALUES (?, ?, ?, ?, ?, ?)", [
                    (p.line, p.external_ref, p.account_no, p.amount, p.currency, _sqlite_time(p.paid_at))
                    for p in self.buffer])
            finally:
                cursor.close()
        self.count += len(self.buffer)
        self.buffer.clear()


# how far into the file a pass that stages it has read, in bytes (called as it goes, and at the end)
OnRead = Callable[[int], None]


class ReportingReader:
    """A binary file read through (blocks or lines) that reports its offset to ``on_read`` now and then."""

    EVERY = 1 << 18  # bytes between reports

    def __init__(self, stream: BinaryIO, on_read: OnRead) -> None:
        self._stream, self._on_read = stream, on_read
        self._offset = self._reported = 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self._advance(len(data), last=not data)
        return data

    def __iter__(self) -> Iterator[bytes]:
        for line in self._stream:
            self._advance(len(line))
            yield line
        self._advance(0, last=True)

    def _advance(self, n: int, *, last: bool = False) -> None:
        self._offset += n
        if self._offset - self._reported >= self.EVERY or (last and self._offset > self._reported):
            self._reported = self._offset
            self._on_read(self._offset)


def reading(stream: BinaryIO, on_read: OnRead | None) -> BinaryIO:
    """``stream``, reporting how far it was read to ``on_read`` (if given)."""
    return stream if on_read is None else ReportingReader(stream, on_read)  # type: ignore[return-value]


@dataclass(frozen=True)
class Staged:
    """What staging a generic-format file gave."""

    fast_path: bool  # PostgreSQL: streamed by COPY and typed in SQL
    errors: list[LineError]  # the first bad lines (reference parser)
    bad_lines: int
    sha256: str | None  # computed on the way when the fast path read the file


def stage_file(session: Session, path: Path, tz: str, *, on_read: OnRead | None = None
               ) -> tuple[bool, tuple[list[LineError], int]]:
    """Stage a generic-format file: (fast path used, (first bad lines, number of bad lines))."""
    staged = stage_generic(session, path, tz, on_read=on_read)
    return staged.fast_path, (staged.errors, staged.bad_lines)


def stage_generic(session: Session, path: Path, tz: str, *, before_slow_path: Callable[[], object] | None = None,
                  on_read: OnRead | None = None) -> Staged:
    """Stage a generic-format file: the fast path on PostgreSQL, else (or if refused) the reference parser.

    ``before_slow_path`` runs before the reference parser reads the file (the import checks line lengths there);
    ``on_read`` hears how far each staging pass has read (a refused fast path, then the parser, start over).
    """
    create_stage(session)
    if is_postgres(session):
        sha = _stage_fast(session, Path(path), tz, on_read)
        if sha is not None:
            return Staged(True, [], 0, sha)
        create_stage(session)
    if before_slow_path is not None:
        before_slow_path()
    with Path(path).open("rb") as f:
        errors, total = stage_items(session, read_generic(reading(f, on_read), tz=tz))
    return Staged(False, errors, total, None)


def stage_items(session: Session, items: Iterable[PaymentLine | LineError]) -> tuple[list[LineError], int]:
    """Stage the good lines; return (first bad lines, number of bad lines) for the report."""
    writer = StageWriter(session)
    errors: list[LineError] = []
    total = 0
    for item in items:
        if isinstance(item, LineError):
            total += 1
            if len(errors) < MAX_REPORTED_ERRORS:
                errors.append(item)
        else:
            writer.add(item)
    writer.flush()
    _fill_customers(session)
    return errors, total


class _NotFast(Exception):
    """A block did not pass the strict check: abandon the COPY."""


def _stage_fast(session: Session, path: Path, tz: str, on_read: OnRead | None = None) -> str | None:
    """PostgreSQL: stream the file into COPY, checking each block first; type the lines in SQL.

    Returns the file's SHA-256, or None: the reference parser must read the file (nothing is left staged).
    """
    savepoint = session.begin_nested()
    driver_error = session.get_bind().dialect.loaded_dbapi.Error
    checker = BlockChecker()
    digest = hashlib.sha256()
    try:
        create_raw(session)
        raw = session.connection().connection.driver_connection
        with Path(path).open("rb") as opened, raw.cursor() as cursor:
            f = reading(opened, on_read)
            with cursor.copy(f"COPY {RAW} (external_ref, account_no, amount, currency, paid_at) FROM STDIN "
                             "WITH (FORMAT csv, HEADER true, ENCODING 'UTF8')") as copy:
                while block := f.read(_BLOCK):
                    digest.update(block)
                    if not checker.feed(block):
                        raise _NotFast
                    copy.write(block)
                if not checker.finish():
                    raise _NotFast
        _type_lines(session, tz, checker.local_times)
    except (_NotFast, DBAPIError, driver_error):  # an unusual or bad line, the 30th of February, ...
        savepoint.rollback()
        return None
    savepoint.commit()
    return digest.hexdigest()


def _type_lines(session: Session, tz: str, local_times: bool) -> None:
    """Raw text -> typed stage rows, with the customer; the lines passed :class:`BlockChecker` already."""
    # amount: at most two decimals, so exact; a time without offset is local time in ``tz``
    paid_at = ("CASE WHEN r.paid_at ~ '(Z|[+-][0-9:]{4,5})$' THEN r.paid_at::timestamptz "
               "ELSE r.paid_at::timestamp AT TIME ZONE :tz END") if local_times else "r.paid_at::timestamptz"
    session.execute(text(
        f"INSERT INTO {STAGE} (line_no, external_ref, account_no, amount, currency, paid_at, customer_id, "
        "arrears_account_id, prepaid_account_id, account_currency) "
        "SELECT r.line_no + 1, r.external_ref, r.account_no, (r.amount::numeric * 100)::bigint, r.currency, "
        f"{paid_at}, c.id, c.arrears_account_id, c.prepaid_account_id, c.currency "
        f"FROM {RAW} r LEFT JOIN customer_accounts c ON c.account_no = r.account_no"),
        {"tz": tz} if local_times else {})


def _fill_customers(session: Session) -> None:
    session.execute(text(
        f"UPDATE {STAGE} SET customer_id = c.id, arrears_account_id = c.arrears_account_id, "
        "prepaid_account_id = c.prepaid_account_id, account_currency = c.currency "
        f"FROM customer_accounts c WHERE c.account_no = {STAGE}.account_no AND {STAGE}.customer_id IS NULL"))


