"""Fast bulk insertion of voucher rows: COPY on PostgreSQL, executemany on SQLite."""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import Connection, select

from storage.models import Voucher

VoucherTuple = tuple[str, int, int, bytes, int, str, dt.date]  # serial, batch_pk, sequence, hash, face, currency, expires
_COLUMNS = ("serial", "batch_pk", "sequence", "code_hash", "face_value", "currency", "expires", "status")


def insert_voucher_rows(connection: Connection, rows: Sequence[VoucherTuple]) -> None:
    """Insert ``rows`` as inactive vouchers inside the connection's transaction."""
    raw = connection.connection.driver_connection
    if connection.dialect.name == "postgresql":
        with raw.cursor() as cursor:
            with cursor.copy(f"COPY vouchers ({', '.join(_COLUMNS)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row((*row, "inactive"))
        return
    cursor = raw.cursor()
    try:
        placeholders = ", ".join("?" for _ in _COLUMNS)
        cursor.executemany(
            f"INSERT INTO vouchers ({', '.join(_COLUMNS)}) VALUES ({placeholders})",
            [(s, b, q, h, f, c, e.isoformat(), "inactive") for s, b, q, h, f, c, e in rows],
        )
    finally:
        cursor.close()


def existing_code_hashes(connection: Connection, hashes: Sequence[bytes]) -> set[bytes]:
    """Which of ``hashes`` are already stored (collision detection)."""
    found: set[bytes] = set()
    for start in range(0, len(hashes), 500):
        part = list(hashes[start : start + 500])
        found.update(connection.execute(select(Voucher.code_hash).where(Voucher.code_hash.in_(part))).scalars())
    return found
