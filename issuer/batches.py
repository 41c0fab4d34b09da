"""Batch issuance and the batch lifecycle (maker-checker, void)."""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from issuer.cardstore import CSV_HEADER, card_file_path, sealed_writer
from issuer.errors import BatchNotFound, BatchStateError, InvalidBatchRequest, MakerCheckerViolation
from issuer.generation import COPY, ROWS, BatchSpec, CardFactory, GeneratedChunk, SigningPool, generate, signing_pool
from issuer.signing_keys import signer_from_raw, unlock_signing_key
from vouchers.keystore.store import KeyStore
from vouchers.storage import audit, batch_states
from vouchers.storage.batch_states import stock_by_holder, status_counts  # noqa: F401 - the console reads them too
from vouchers.storage.bulk import copy_voucher_text, insert_voucher_rows, sqlite_bulk_cache
from vouchers.storage.models import Batch, Voucher
from vouchers.batch_request import BatchRequest, validate_request  # noqa: F401 - one check for the CLI and the console
from vouchers.serials import MAX_BATCH_NUMBER, Serial, batch_id_for

log = logging.getLogger(__name__)
MAX_COLLISION_ROUNDS = 5


@dataclass(frozen=True)
class BatchSummary:
    batch_id: str
    status: str
    face_value: int
    currency: str
    count: int
    expires: dt.date
    first_serial: str
    last_serial: str
    key_id: str
    created_by: str
    created_at: dt.datetime
    approved_by: str | None
    card_data_sha256: str
    void_reason: str | None

    @classmethod
    def of(cls, b: Batch) -> BatchSummary:
        return cls(b.batch_id, b.status, b.face_value, b.currency, b.count, b.expires, b.first_serial,
                   b.last_serial, b.key_id, b.created_by, b.created_at, b.approved_by, b.card_data_sha256,
                   b.void_reason)


def get_batch(session: Session, batch_id: str) -> Batch:
    return batch_states.get_batch(session, batch_id)


class _Inserter:
    """Stores generated chunks; a chunk whose code hashes collide is regenerated whole.

    A collision needs two equal 63-bit codes, so regenerating the chunk is
    simpler than patching single cards and costs nothing in practice.
    """

    def __init__(self, session: Session, factory: CardFactory) -> None:
        self.session, self.factory = session, factory
        self.collisions_retried = 0
        spec = factory.spec
        self._constants = {"batch_pk": spec.batch_number, "face_value": spec.face_value,
                           "currency": spec.currency, "expires": spec.expires}

    def _insert(self, connection, chunk: GeneratedChunk) -> None:
        if chunk.copy_text is not None:
            copy_voucher_text(connection, chunk.copy_text)
        else:
            insert_voucher_rows(connection, chunk.rows, **self._constants)

    def store(self, chunk: GeneratedChunk) -> GeneratedChunk:
        for _ in range(MAX_COLLISION_ROUNDS):
            connection = self.session.connection()
            savepoint = connection.begin_nested()
            try:
                self._insert(connection, chunk)
                savepoint.commit()
                return chunk
            except (IntegrityError, connection.dialect.loaded_dbapi.IntegrityError):
                savepoint.rollback()
                self.collisions_retried += 1
                log.warning("code-hash collision in sequences %d..%d; regenerating them", chunk.start, chunk.stop - 1)
                chunk = self.factory.make_chunk(chunk.start, chunk.stop)
        raise InvalidBatchRequest("could not generate unique codes (collisions kept recurring)")


def create_batch(sessions: sessionmaker[Session], store: KeyStore, passphrase: str, request: BatchRequest, *,
                 web_passphrase: str, now: dt.datetime, today: dt.date, issuer_code: int, max_count: int, workers: int | None = None,
                 progress: Callable[[int], None] = lambda n: None,
                 code_source: Callable[[], str] | None = None,
                 fail_after: int | None = None) -> BatchSummary:
    """Generate a whole batch in ONE transaction: it exists completely or not at all.

    It needs both secrets: ``passphrase`` (the issuer's) for the signing key,
    ``web_passphrase`` for the pepper that hashes the codes. ``code_source``
    forces in-process generation with that code generator and ``fail_after``
    injects a failure after that many stored cards (tests).
    """
    validate_request(request, today=today, max_count=max_count)
    # the signing processes start first: their start-up overlaps the scrypt unlocks below
    with signing_pool(request.count, 1 if code_source else workers) as pool:
        return _create_batch(sessions, store, passphrase, request, web_passphrase=web_passphrase, now=now,
                             issuer_code=issuer_code, pool=pool,
                             progress=progress, code_source=code_source, fail_after=fail_after)


def _create_batch(sessions: sessionmaker[Session], store: KeyStore, passphrase: str, request: BatchRequest, *,
                  web_passphrase: str, now: dt.datetime, issuer_code: int, pool: SigningPool | None, progress: Callable[[int], None],
                  code_source: Callable[[], str] | None, fail_after: int | None) -> BatchSummary:
    key_id, raw_key = unlock_signing_key(store, passphrase)
    pepper = store.pepper(web_passphrase)
    recipient = store.cardstore_recipient()

    written: list[Path] = []  # the sealed card file, once it exists: removed if the commit fails
    try:
        with sessions() as session, session.begin():
            batch = Batch(batch_id=f"pending-{secrets.token_hex(6)}", issuer_code=issuer_code,
                          face_value=request.face_value, currency=request.currency, count=request.count,
                          expires=request.expires, status="draft", key_id=key_id, first_serial="", last_serial="",
                          card_data_sha256="", created_by=request.operator, created_at=now)
            session.add(batch)
            session.flush()
            if batch.id > MAX_BATCH_NUMBER:
                raise InvalidBatchRequest("batch numbers exhausted for this issuer code")
            batch.batch_id = batch_id_for(issuer_code, batch.id)
            batch.first_serial = str(Serial(issuer_code, batch.id, 1))
            batch.last_serial = str(Serial(issuer_code, batch.id, request.count))
            spec = BatchSpec(issuer_code, batch.id, batch.batch_id, request.face_value, request.currency,
                             request.expires, request.count)
            # each database gets the form it loads fastest, built in the signing workers
            form = COPY if session.get_bind().dialect.name == "postgresql" else ROWS
            local_factory = CardFactory(spec, signer_from_raw(key_id, raw_key), pepper, code_source, form=form)
            inserter = _Inserter(session, local_factory)
            digest = hashlib.sha256()

            def card_csv() -> Iterator[bytes]:
                """Generate, store, and hand on each chunk's CSV for the sealed file."""
                stored = 0
                chunks = ((local_factory.make_chunk(s, min(s + 1000, request.count + 1))
                           for s in range(1, request.count + 1, 1000)) if code_source else
                          generate(spec, key_id, raw_key, pepper, workers=1, form=form, pool=pool))
                header = (CSV_HEADER + "\n").encode("utf-8")
                digest.update(header)
                yield header
                for chunk in chunks:
                    chunk = inserter.store(chunk)
                    stored += len(chunk)
                    if fail_after is not None and stored >= fail_after:
                        raise RuntimeError("injected failure during batch generation")
                    progress(len(chunk))
                    digest.update(chunk.csv)
                    yield chunk.csv

            final_path = card_file_path(store.home, batch.batch_id)
            with sqlite_bulk_cache(session.connection()), sealed_writer(final_path, recipient) as write:
                write(card_csv())
            written.append(final_path)
            batch.card_data_sha256 = digest.hexdigest()
            audit.record(session, now=now, actor=request.operator, action="batch.create", subject_type="batch",
                         subject_id=batch.batch_id, to_state="draft",
                         details={"count": request.count, "face_value": request.face_value,
                                  "currency": request.currency, "expires": request.expires.isoformat(),
                                  "key_id": key_id, "collisions_retried": inserter.collisions_retried})
            summary = BatchSummary.of(batch)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    log.info("created batch %s with %d vouchers (key %s)", summary.batch_id, summary.count, key_id)
    return summary


def approve_batch(session: Session, batch_id: str, operator: str, now: dt.datetime) -> BatchSummary:
    if not operator or not operator.strip():
        raise InvalidBatchRequest("operator name is required")
    return BatchSummary.of(batch_states.approve(session, batch_id, operator, now))


def void_batch(session: Session, batch_id: str, reason: str, operator: str, now: dt.datetime,
               on_void: Callable[[Session, Batch], None] | None = None) -> tuple[BatchSummary, int]:
    """Void a batch and every unredeemed voucher in it; returns (summary, vouchers voided)."""
    if not reason or not reason.strip():
        raise InvalidBatchRequest("a reason is required to void a batch")
    batch, voided = batch_states.void(session, batch_id, reason, operator, now, on_void=on_void)
    return BatchSummary.of(batch), voided


def _transition(session: Session, batch: Batch, target: str, actor: str, now: dt.datetime,
                reason: str | None = None) -> None:
    batch_states.transition(session, batch, target, actor, now, reason)


def transition_batch(session: Session, batch_id: str, target: str, actor: str, now: dt.datetime,
                     reason: str | None = None) -> BatchSummary:
    batch = get_batch(session, batch_id)
    _transition(session, batch, target, actor, now, reason)
    return BatchSummary.of(batch)


def close_batch(session: Session, batch_id: str, operator: str, now: dt.datetime, home: Path) -> BatchSummary:
    """End of life: no voucher left to sell or redeem; the sealed card file is destroyed."""
    batch = get_batch(session, batch_id)
    open_vouchers = {k: v for k, v in status_counts(session, batch).items() if k in ("inactive", "active")}
    if open_vouchers:
        raise BatchStateError(f"batch {batch_id} still has vouchers that can be sold or redeemed: {open_vouchers}")
    _transition(session, batch, "closed", operator, now)
    session.flush()
    card_file_path(home, batch_id).unlink(missing_ok=True)
    return BatchSummary.of(batch)


def list_batches(session: Session) -> list[BatchSummary]:
    return [BatchSummary.of(b) for b in session.execute(select(Batch).order_by(Batch.id)).scalars()]

