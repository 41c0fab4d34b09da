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
from sqlalchemy import delete, func, insert, literal, select, update
from sqlalchemy.orm import Session, sessionmaker

from issuer.batches import get_batch
from issuer.cardstore import card_file_path, plaintext_chunks
from issuer.errors import BatchStateError, ExportError
from issuer.streams import encrypt_stream
from vouchers.keystore.files import private_file
from vouchers.keystore.store import KeyStore
from vouchers.storage import audit
from vouchers.storage.files import file_sha256
from vouchers.storage.models import Batch, PrintJob
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


_CLAIMED = "[]"  # ``files`` of an export claimed but not (yet) written: in progress, or interrupted


def _claim(sessions: sessionmaker[Session], batch_pk: int, batch_id: str, *, operator: str, now: dt.datetime,
           reexport: bool, reason: str | None) -> int:
    """Record the export before its file is written, in a short transaction of its own; the id of the claim.

    A first export is claimed only if no export of the batch is recorded: the batch's row is written first
    (a row lock on PostgreSQL, the write lock on SQLite, each held for milliseconds), then one conditional
    ``INSERT ... WHERE NOT EXISTS`` reads under that lock, so of two concurrent first exports exactly one
    claims the batch and the other is refused before it opens its file."""
    jobs = PrintJob.__table__
    values = {"batch_pk": batch_pk, "kind": "export", "operator": operator, "at": now, "card_count": 0,
              "files": _CLAIMED, "reprint_reason": reason if reexport else None}
    with sessions.begin() as session:
        session.execute(update(Batch).where(Batch.id == batch_pk).values(status=Batch.status))
        if reexport:  # another copy, with its reason: never exclusive
            return int(session.execute(insert(jobs).values(values).returning(jobs.c.id)).scalar_one())
        earlier = select(jobs.c.id).where(jobs.c.batch_pk == batch_pk, jobs.c.kind == "export").exists()
        columns = list(values)
        row = select(*[literal(values[c], type_=jobs.c[c].type).label(c) for c in columns]).where(~earlier)
        claimed = session.execute(insert(jobs).from_select(columns, row).returning(jobs.c.id)).scalar_one_or_none()
    if claimed is None:
        raise ExportRefused(f"batch {batch_id} was exported by another process a moment ago (or is being "
                            "exported now): another copy of its codes needs --reexport --reason TEXT")
    return int(claimed)


def _release(sessions: sessionmaker[Session], job_id: int) -> None:
    """Forget a claim whose file was not written (the export failed before the end)."""
    with sessions.begin() as session:
        session.execute(delete(PrintJob).where(PrintJob.id == job_id, PrintJob.files == _CLAIMED))


def export_batch(sessions: sessionmaker[Session], store: KeyStore, passphrase: str, batch_id: str, recipient: str,
                 out_path: Path, *, operator: str, now: dt.datetime, reexport: bool = False,
                 reason: str | None = None) -> ExportResult:
    """Write the batch's card CSV, encrypted to ``recipient``, as a 0600 file; record and audit it.

    Exporting again needs ``reexport=True`` and a reason (audited as ``batch.reexport``), like a reprint.
    The export is claimed (committed) before the file is written, so two first exports at once cannot both
    write the codes (:func:`_claim`); a claim whose export fails is released, one interrupted by a crash
    stays (the codes may have been written) and a further copy needs ``reexport`` and a reason.
    """
    target = parse_recipient(recipient)
    with sessions.begin() as session:
        batch = get_batch(session, batch_id)
        if batch.status not in ISSUED_BATCH_STATES:
            raise BatchStateError(f"batch {batch_id} is {batch.status}: only approved, not void batches can be "
                                  "exported")
        check_repeat(session, batch.id, batch_id, reexport=reexport, reason=reason)
        batch_pk, status, count, card_sha256 = batch.id, batch.status, batch.count, batch.card_data_sha256
    identity = store.cardstore_identity(passphrase)
    job_id = _claim(sessions, batch_pk, batch_id, operator=operator, now=now, reexport=reexport, reason=reason)
    digest = hashlib.sha256()
    lines = 0

    def checked(chunks: Iterator[bytes]) -> Iterator[bytes]:
        nonlocal lines
        for chunk in chunks:
            digest.update(chunk)
            lines += chunk.count(b"\n")
            yield chunk

    try:
        with private_output(out_path) as handle:
            encrypt_stream(checked(plaintext_chunks(card_file_path(store.home, batch_id), identity)), handle, [target])
            if digest.hexdigest() != card_sha256 or lines - 1 != count:
                raise ExportError(f"sealed card data of {batch_id} does not match the batch record; not exported")
    except BaseException:
        _release(sessions, job_id)
        raise
    file_hash = file_sha256(Path(out_path))
    with sessions.begin() as session:
        session.execute(update(PrintJob).where(PrintJob.id == job_id).values(
            card_count=count, files=json.dumps([{"name": Path(out_path).name, "sha256": file_hash, "cards": count}])))
        audit.record(session, now=now, actor=operator, action="batch.reexport" if reexport else "batch.export",
                     subject_type="batch", subject_id=batch_id, from_state=status, to_state=status,
                     reason=reason if reexport else None,
                     details={"file": Path(out_path).name, "sha256": file_hash, "recipient": recipient.strip(),
                              "count": count})
    return ExportResult(batch_id, str(out_path), count, file_hash, card_sha256)



