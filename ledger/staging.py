"""Temporary staging tables for channel files and how lines get into them.

PostgreSQL fast path: the file's bytes are COPYed into a raw text table and
typed and checked in one set-based pass, with predicates never more lenient
than the reference parser (:mod:`ledger.csvformat`). Any failure - bad
encoding or quoting, a line that does not pass - discards that work and the
reference parser reads the file, reporting every bad line. Otherwise (SQLite,
adapters) checked lines go in by ``COPY`` (PostgreSQL) or ``executemany``
(SQLite) in chunks. Staging tables are temporary: they vanish with the
transaction (PostgreSQL) or are emptied before use (SQLite, per connection).
"""
from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ledger.csvformat import MAX_REPORTED_ERRORS, PaymentLine, read_generic
from ledger.errors import LineError
from ledger.sql import is_postgres
from vouchers.money import CURRENCIES

# The fast path accepts a subset of what the reference parser accepts (never more):
# offsets only as Z or +HH:MM/+HHMM, years from 1000.
_FAST_TS = (r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[T ]([01][0-9]|2[0-3]):[0-5][0-9]"
            r"(:[0-5][0-9](\.[0-9]{1,6})?)?(Z|[+-](0[0-9]|1[0-4]):?[0-5][0-9])?$")
_TWO_DECIMAL = sorted(c for c, digits in CURRENCIES.items() if digits == 2)
CHUNK = 10_000
STAGE = "ledger_stage"
RAW = "ledger_stage_raw"
ALLOC = "ledger_stage_alloc"


def create_stage(session: Session, name: str = STAGE) -> None:
    """``name``: one checked line per row, plus what the booking fills in."""
    if is_postgres(session):
        session.execute(text(
            f"CREATE TEMP TABLE IF NOT EXISTS {name} (line_no bigint NOT NULL, external_ref text, account_no text, "
            "amount bigint, currency text, paid_at timestamptz, customer_id bigint, arrears_account_id bigint, "
            "prepaid_account_id bigint, account_currency text, existing_id bigint, existing_same boolean, "
            "to_arrears bigint NOT NULL DEFAULT 0, bad boolean NOT NULL DEFAULT false) ON COMMIT DROP"))
        session.execute(text(f"TRUNCATE {name}"))
    else:
        session.execute(text(
            f"CREATE TEMP TABLE IF NOT EXISTS {name} (line_no INTEGER NOT NULL, external_ref TEXT NOT NULL, "
            "account_no TEXT NOT NULL, amount INTEGER NOT NULL, currency TEXT NOT NULL, paid_at TEXT NOT NULL, "
            "customer_id INTEGER, arrears_account_id INTEGER, prepaid_account_id INTEGER, account_currency TEXT, "
            "existing_id INTEGER, existing_same INTEGER, to_arrears INTEGER NOT NULL DEFAULT 0)"))
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
                             "bill_id bigint NOT NULL, amount bigint NOT NULL) ON COMMIT DROP"))
        session.execute(text(f"TRUNCATE {ALLOC}"))
    else:
        session.execute(text(f"CREATE TEMP TABLE IF NOT EXISTS {ALLOC} (line_no INTEGER NOT NULL, "
                             "bill_id INTEGER NOT NULL, amount INTEGER NOT NULL)"))
        session.execute(text(f"DELETE FROM {ALLOC}"))


def copy_raw_file(session: Session, stream: BinaryIO, *, block: int = 1 << 20) -> None:
    """Stream the file's bytes into the raw table (PostgreSQL parses the CSV and checks UTF-8)."""
    raw = session.connection().connection.driver_connection
    with raw.cursor() as cursor:
        with cursor.copy(f"COPY {RAW} (external_ref, account_no, amount, currency, paid_at) FROM STDIN "
                         "WITH (FORMAT csv, HEADER true, ENCODING 'UTF8')") as copy:
            while data := stream.read(block):
                copy.write(data)


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


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def stage_file(session: Session, path: Path, tz: str) -> tuple[bool, tuple[list[LineError], int]]:
    """Stage a generic-format file: (fast path used, (first bad lines, number of bad lines))."""
    create_stage(session)
    if is_postgres(session):
        with Path(path).open("rb") as f:
            if _stage_fast(session, f, tz):
                return True, ([], 0)
        create_stage(session)
    with Path(path).open("rb") as f:
        return False, stage_items(session, read_generic(f, tz=tz))


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


def _stage_fast(session: Session, stream: BinaryIO, tz: str) -> bool:
    """PostgreSQL: COPY the raw file and check it in SQL. False: use the reference parser."""
    first = stream.readline().decode("utf-8", errors="replace").removeprefix("\ufeff").strip()
    if tuple(h.strip() for h in first.split(",")) != ("external_ref", "account_no", "amount", "currency", "paid_at"):
        return False  # the reference parser words the error
    stream.seek(0)
    savepoint = session.begin_nested()
    driver_error = session.get_bind().dialect.loaded_dbapi.Error
    try:
        loaded = _copy_and_check(session, stream, tz)
    except (DBAPIError, driver_error):  # bad encoding, wrong number of columns, broken quoting...
        savepoint.rollback()
        return False
    if not loaded:
        savepoint.rollback()
        return False
    savepoint.commit()
    return True


def _copy_and_check(session: Session, stream: BinaryIO, tz: str) -> bool:
    create_raw(session)
    copy_raw_file(session, stream)
    params = {"ts": _FAST_TS, "currencies": _TWO_DECIMAL, "tz": tz}
    # the reference rules of ledger.csvformat as cheap set-based predicates, checked while typing the
    # lines in the same pass; a line that fails them sends the whole file to the reference parser
    valid = (
        "r.external_ref IS NOT NULL AND r.account_no IS NOT NULL AND r.amount IS NOT NULL "
        "AND r.currency IS NOT NULL AND r.paid_at IS NOT NULL "
        "AND length(r.external_ref) BETWEEN 1 AND 64 AND r.external_ref !~ '[^ -+.-~-]' "
        "AND left(r.external_ref, 1) <> ' ' AND right(r.external_ref, 1) <> ' ' "
        "AND length(r.account_no) BETWEEN 1 AND 32 AND r.account_no !~ '[^0-9A-Za-z-]' "
        "AND left(r.account_no, 1) <> '-' "
        "AND r.amount ~ '^(0|[1-9][0-9]*)([.][0-9][0-9]?)?$' AND length(split_part(r.amount, '.', 1)) <= 15 "
        "AND r.amount !~ '^0([.]0+)?$' AND r.currency = ANY(:currencies) AND r.paid_at ~ :ts")
    day_ok = ("(substr(r.paid_at, 9, 2) <= '28' OR substr(r.paid_at, 9, 2)::int <= extract(day from "
              "make_date(substr(r.paid_at, 1, 4)::int, substr(r.paid_at, 6, 2)::int, 1) "
              "+ interval '1 month - 1 day'))")
    session.execute(text(
        f"INSERT INTO {STAGE} (line_no, external_ref, account_no, amount, currency, paid_at, customer_id, "
        "arrears_account_id, prepaid_account_id, account_currency, bad) "
        "SELECT r.line_no + 1, r.external_ref, r.account_no, "
        "  CASE WHEN r.ok THEN split_part(r.amount, '.', 1)::bigint * 100 + CASE WHEN position('.' in r.amount) > 0 "
        "    THEN rpad(split_part(r.amount, '.', 2), 2, '0')::bigint ELSE 0 END END, "
        "  r.currency, "
        "  CASE WHEN NOT r.ok THEN NULL WHEN r.paid_at ~ '(Z|[+-][0-9:]{4,5})$' THEN r.paid_at::timestamptz "
        "       ELSE r.paid_at::timestamp AT TIME ZONE :tz END, "
        "  c.id, c.arrears_account_id, c.prepaid_account_id, c.currency, NOT r.ok "
        # OFFSET 0 keeps the check a subquery evaluated once per line (not inlined at each use of ok)
        f"FROM (SELECT r.*, CASE WHEN {valid} THEN {day_ok} ELSE false END AS ok FROM {RAW} r OFFSET 0) r "
        "LEFT JOIN customer_accounts c ON c.account_no = r.account_no"), params)
    return not session.execute(text(f"SELECT EXISTS (SELECT 1 FROM {STAGE} WHERE bad)")).scalar_one()


def _fill_customers(session: Session) -> None:
    session.execute(text(
        f"UPDATE {STAGE} SET customer_id = c.id, arrears_account_id = c.arrears_account_id, "
        "prepaid_account_id = c.prepaid_account_id, account_currency = c.currency "
        f"FROM customer_accounts c WHERE c.account_no = {STAGE}.account_no AND {STAGE}.customer_id IS NULL"))


