"""Fast bulk insertion of voucher rows: COPY on PostgreSQL, executemany on SQLite."""
from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

# Column order of both ``rows`` tuples and ``copy_text`` lines.
VOUCHER_COLUMNS = ("serial", "batch_pk", "sequence", "code_hash", "face_value", "currency", "expires", "status")


def insert_voucher_rows(connection: Connection, rows: Sequence[tuple], copy_text: bytes) -> None:
    """Insert one chunk of vouchers inside the connection's transaction.

    ``copy_text`` (PostgreSQL COPY text format) and ``rows`` hold the same
    vouchers; each database takes the form it loads fastest.
    """
    raw = connection.connection.driver_connection
    columns = ", ".join(VOUCHER_COLUMNS)
    if connection.dialect.name == "postgresql":
        with raw.cursor() as cursor, cursor.copy(f"COPY vouchers ({columns}) FROM STDIN") as copy:
            copy.write(copy_text)
        return
    cursor = raw.cursor()
    try:
        placeholders = ", ".join("?" for _ in VOUCHER_COLUMNS)
        cursor.executemany(f"INSERT INTO vouchers ({columns}) VALUES ({placeholders})", rows)
    finally:
        cursor.close()
