"""Fast bulk insertion of voucher rows: COPY on PostgreSQL, executemany on SQLite."""
from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Iterator, Sequence

from sqlalchemy import Connection

# Column order of ``copy_text`` lines.
VOUCHER_COLUMNS = ("serial", "batch_pk", "sequence", "code_hash", "face_value", "currency", "expires", "status")
_CURRENCY = re.compile(r"[A-Z]{3}")
BULK_CACHE_KIB = 64 * 1024  # SQLite page cache during a batch insert (peak RSS stays far below 300 MB)


def copy_voucher_text(connection: Connection, copy_text: bytes) -> None:
    """COPY one chunk of vouchers (text format, :data:`VOUCHER_COLUMNS`) inside the transaction (PostgreSQL)."""
    raw = connection.connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(f"COPY vouchers ({', '.join(VOUCHER_COLUMNS)}) FROM STDIN") as copy:
        copy.write(copy_text)


def insert_voucher_rows(connection: Connection, rows: Sequence[tuple[str, int, bytes]], *, batch_pk: int,
                        face_value: int, currency: str, expires: dt.date) -> None:
    """Insert ``(serial, sequence, code_hash)`` rows of one batch inside the transaction (executemany).

    The columns shared by the whole batch are constants of the statement, so
    each row binds three values; they are validated integers, a three-letter
    currency and a date, never text from outside.
    """
    if not (type(batch_pk) is int and type(face_value) is int and isinstance(currency, str)
            and _CURRENCY.fullmatch(currency) and type(expires) is dt.date):
        raise ValueError("batch-wide voucher columns must be int, int, ISO currency code, date")
    statement = (f"INSERT INTO vouchers ({', '.join(VOUCHER_COLUMNS)}) VALUES "
                 f"(?, {batch_pk}, ?, ?, {face_value}, '{currency}', '{expires.isoformat()}', 'inactive')")
    cursor = connection.connection.driver_connection.cursor()
    try:
        cursor.executemany(statement, rows)
    finally:
        cursor.close()


@contextlib.contextmanager
def sqlite_bulk_cache(connection: Connection, kib: int = BULK_CACHE_KIB) -> Iterator[None]:
    """A larger SQLite page cache for one bulk load on ``connection``, restored afterwards.

    A batch's random code hashes land all over their unique index; with the
    default 2 MB cache the B-tree pages are re-read from the OS for almost
    every row once the table holds a few hundred thousand vouchers. Does
    nothing on other databases.
    """
    if connection.dialect.name != "sqlite":
        yield
        return
    previous = connection.exec_driver_sql("PRAGMA cache_size").scalar()
    connection.exec_driver_sql(f"PRAGMA cache_size = {-int(kib)}")
    try:
        yield
    finally:
        with contextlib.suppress(Exception):  # best effort: a larger cache is only a cost in memory
            connection.exec_driver_sql(f"PRAGMA cache_size = {int(previous)}")
