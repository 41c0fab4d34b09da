"""The sealed card file of a batch: the contract's export CSV, age-encrypted
to the issuer's own card-store key, kept under VOUCHER_HOME (never in the
database). It is the only copy of the codes between creation and printing.
"""
from __future__ import annotations

import contextlib
import csv
import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import pyrage
from pyrage import x25519

from issuer.errors import CardStoreError
from issuer.streams import decrypt_chunks, encrypt_stream, iter_lines
from vouchers.keystore.files import ensure_private_dir, private_file
from print_templates.model import CardRecord
from vouchers.errors import VoucherError
from vouchers.money import parse_amount

CSV_HEADER = "serial,code,token,face_value,currency,expires"


def card_csv_line(serial: str, code: str, token: str, face_text: str, currency: str, expires_text: str) -> str:
    """One row of the contract's card CSV (no field ever needs quoting)."""
    return f"{serial},{code},{token},{face_text},{currency},{expires_text}\n"


def parse_card_line(line: str) -> CardRecord:
    fields = next(csv.reader([line]))
    if len(fields) != 6:
        raise CardStoreError("card file line has the wrong number of fields")
    serial, code, token, face, currency, expires = fields
    return CardRecord(serial, code, token, parse_amount(face), currency, dt.date.fromisoformat(expires))


def card_file_path(home: Path, batch_id: str) -> Path:
    return Path(home) / "batches" / f"{batch_id}.cards.age"


@contextlib.contextmanager
def sealed_writer(final_path: Path, recipient: str) -> Iterator[callable]:
    """Yields ``write(chunks)``; the file appears at ``final_path`` (0600) only on success."""
    ensure_private_dir(final_path.parent)
    sweep_abandoned(final_path.parent)
    recipients = [x25519.Recipient.from_str(recipient)]
    with private_file(final_path) as handle:
        yield lambda chunks: encrypt_stream(chunks, handle, recipients)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_abandoned(directory: Path) -> list[Path]:
    """Delete temporary card files left by a killed process (never a live one's)."""
    removed = []
    for path in directory.glob(".*.tmp"):
        try:
            pid = int(path.name.rsplit(".", 2)[-2])
        except (ValueError, IndexError):
            continue
        if not _pid_alive(pid):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def plaintext_chunks(path: Path, identity: str) -> Iterator[bytes]:
    if not path.exists():
        raise CardStoreError(f"the sealed card file of this batch is missing ({path.name})")
    try:
        source = open(path, "rb")
    except OSError as e:
        raise CardStoreError(f"cannot read the sealed card file of this batch ({path.name}): "
                             f"{e.strerror or e}") from e
    with source:
        try:
            yield from decrypt_chunks(source, [x25519.Identity.from_str(identity)])
        except (pyrage.DecryptError, OSError) as e:  # pyrage reports a damaged stream as either
            raise CardStoreError(f"the sealed card file of this batch ({path.name}) cannot be decrypted: it is "
                                 "damaged or was sealed for another key store; restore it from a backup") from e


def read_cards(path: Path, identity: str) -> Iterator[CardRecord]:
    lines = iter_lines(plaintext_chunks(path, identity))
    header = next(lines, b"").decode("utf-8", "replace")
    if header != CSV_HEADER:
        raise CardStoreError("sealed card file has an unexpected header")
    for raw in lines:
        if raw:
            try:
                yield parse_card_line(raw.decode("utf-8"))
            except (ValueError, VoucherError) as e:  # a bad amount, date or encoding
                raise CardStoreError("the sealed card file of this batch holds a damaged line") from e
