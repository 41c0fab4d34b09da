"""Print-house export: the batch's card CSV, age-encrypted to the print house."""
from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyrage
from pyrage import x25519
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from issuer.batches import get_batch
from issuer.cardstore import card_file_path, plaintext_chunks
from issuer.errors import BatchStateError, ExportError
from issuer.streams import encrypt_stream
from vouchers.keystore.files import private_file
from vouchers.keystore.store import KeyStore
from vouchers.storage import audit
from vouchers.storage.files import file_sha256
from vouchers.storage.models import PrintJob
from vouchers.lifecycle import ISSUED_BATCH_STATES


@dataclass(frozen=True)
class ExportResult:
    batch_id: str
    path: str
    count: int
    sha256: str  # of the encrypted file
    plaintext_sha256: str


def parse_recipient(text: str) -> x25519.Recipient:
    try:
        return x25519.Recipient.from_str(text.strip())
    except (pyrage.RecipientError, ValueError) as e:
        raise ExportError("recipient must be an age X25519 recipient (age1...)") from e


@contextlib.contextmanager
def private_output(path: Path) -> Iterator[object]:
    """A 0600 file that appears at ``path`` only if the block succeeds."""
    path = Path(path)
    if path.exists() and path.is_dir():
        raise ExportError(f"output path {path} is a directory")
    with contextlib.ExitStack() as stack:
        try:
            handle = stack.enter_context(private_file(path, "partial"))
        except OSError as e:
            raise ExportError(f"cannot write {path}: {e.strerror}") from e
        yield handle


class ExportRefused(ExportError):
    """A repeat export without its flag and reason (or the flag on a first export): nothing is written."""

    code = "export_refused"


def check_repeat(session: Session, batch_pk: int, batch_id: str, *, reexport: bool, reason: str | None) -> None:
    """The rule ``batch print`` follows for a reprint: the first export needs nothing; another copy of the
    codes needs ``reexport`` and a reason, both audited. Checked before anything is written."""
    earlier = session.execute(select(PrintJob.operator, func.count()).where(
        PrintJob.batch_pk == batch_pk, PrintJob.kind == "export").group_by(PrintJob.operator)
        .order_by(func.min(PrintJob.id))).all()
    if earlier and not reexport:
        by = ", ".join(operator for operator, _ in earlier)
        raise ExportRefused(f"batch {batch_id} was already exported ({sum(n for _, n in earlier)} time(s), by {by}): "
                            "another copy of its codes needs --reexport --reason TEXT")
    if reexport and not earlier:
        raise ExportRefused(f"batch {batch_id} has not been exported yet: drop --reexport")
    if reexport and not (reason and reason.strip()):
        raise ExportRefused("a repeat export needs --reason")


def export_batch(session: Session, store: KeyStore, passphrase: str, batch_id: str, recipient: str,
                 out_path: Path, *, operator: str, now: dt.datetime, reexport: bool = False,
                 reason: str | None = None) -> ExportResult:
    """Write the batch's card CSV, encrypted to ``recipient``, as a 0600 file; record and audit it.

    Exporting again needs ``reexport=True`` and a reason (audited as ``batch.reexport``), like a reprint.
    """
    target = parse_recipient(recipient)
    batch = get_batch(session, batch_id)
    if batch.status not in ISSUED_BATCH_STATES:
        raise BatchStateError(f"batch {batch_id} is {batch.status}: only approved, not void batches can be exported")
    check_repeat(session, batch.id, batch_id, reexport=reexport, reason=reason)
    identity = store.cardstore_identity(passphrase)
    digest = hashlib.sha256()
    lines = 0

    def checked(chunks: Iterator[bytes]) -> Iterator[bytes]:
        nonlocal lines
        for chunk in chunks:
            digest.update(chunk)
            lines += chunk.count(b"\n")
            yield chunk

    with private_output(out_path) as handle:
        encrypt_stream(checked(plaintext_chunks(card_file_path(store.home, batch_id), identity)), handle, [target])
        if digest.hexdigest() != batch.card_data_sha256 or lines - 1 != batch.count:
            raise ExportError(f"sealed card data of {batch_id} does not match the batch record; not exported")
    file_hash = file_sha256(Path(out_path))
    session.add(PrintJob(batch_pk=batch.id, kind="export", operator=operator, at=now, card_count=batch.count,
                         files=json.dumps([{"name": Path(out_path).name, "sha256": file_hash, "cards": batch.count}]),
                         reprint_reason=reason if reexport else None))
    audit.record(session, now=now, actor=operator, action="batch.reexport" if reexport else "batch.export",
                 subject_type="batch", subject_id=batch_id, from_state=batch.status, to_state=batch.status,
                 reason=reason if reexport else None,
                 details={"file": Path(out_path).name, "sha256": file_hash, "recipient": recipient.strip(),
                          "count": batch.count})
    return ExportResult(batch_id, str(out_path), batch.count, file_hash, batch.card_data_sha256)


