"""Generating codes, hashes and signed tokens, in parallel where it pays.

Worker processes start before the key store is unlocked and receive the
signing key and pepper with their chunks of sequence numbers, in memory only;
generated cards come back in order, already in the byte form the parent
writes: the parent process only hands them to the database and to the sealed
card file.

This module is imported by every signing worker, so it imports nothing heavy
(no card store, no templates, no database).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import multiprocessing
import os
import sys
import types
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from issuer.signing_keys import signer_from_raw
from vouchers import damm
from vouchers.codes import CODE_LENGTH, CodeHasher, damm_table4, generate_codes
from vouchers.money import format_amount
from vouchers.serials import SERIAL_LENGTH, Serial
from vouchers.token import BatchClaimsEncoder, TokenSigner

CHUNK_SIZE = 5000
PARALLEL_THRESHOLD = 20_000  # below this a process pool costs more than it saves

# The database form a chunk is built in: COPY text (PostgreSQL) or row tuples (SQLite executemany).
COPY, ROWS = "copy", "rows"


@dataclass(frozen=True, slots=True)
class BatchSpec:
    issuer_code: int
    batch_number: int
    batch_id: str
    face_value: int
    currency: str
    expires: dt.date
    count: int


@dataclass(frozen=True, slots=True)
class GeneratedChunk:
    """Cards ``start..stop-1``, built entirely in the worker.

    ``csv`` is the chunk's part of the sealed card file (lines of
    :func:`issuer.cardstore.card_csv_line`). The database gets either
    ``copy_text`` (PostgreSQL COPY text format, all of
    :data:`vouchers.storage.bulk.VOUCHER_COLUMNS`) or ``rows`` (``(serial, sequence,
    code_hash)`` tuples for executemany; the batch-wide columns are constants
    of the statement): whichever the factory's ``form`` asked for.
    """

    start: int
    stop: int
    csv: bytes
    copy_text: bytes | None = None
    rows: list[tuple[str, int, bytes]] | None = None

    def __len__(self) -> int:
        return self.stop - self.start


def _checked_code(code: str) -> str:
    if not (isinstance(code, str) and len(code) == CODE_LENGTH and code.isascii() and code.isdigit()):
        raise ValueError("code source returned something that is not 20 ASCII digits")
    return code


class CardFactory:
    """Makes cards: fresh code, its keyed hash, its signed token.

    ``code_source`` (one code per call, in sequence order) replaces the
    built-in generator (:func:`vouchers.codes.generate_codes`), for tests.
    """

    def __init__(self, spec: BatchSpec, signer: TokenSigner, pepper: bytes,
                 code_source: Callable[[], str] | None = None, *, form: str = COPY) -> None:
        if form not in (COPY, ROWS):
            raise ValueError(f"unknown chunk form {form!r}")
        self.spec, self.signer, self.code_source, self.form = spec, signer, code_source, form
        self._hash = CodeHasher(pepper)
        # validates the batch-wide claims once; per card only serial and code change
        self._claims = BatchClaimsEncoder(spec.batch_id, spec.face_value, spec.currency, spec.expires,
                                          serial_length=SERIAL_LENGTH)
        expires_text = spec.expires.isoformat()
        self._csv_suffix = f",{format_amount(spec.face_value)},{spec.currency},{expires_text}\n"
        self._copy_suffix = f"\t{spec.face_value}\t{spec.currency}\t{expires_text}\tinactive\n"
        self._serial_prefix = str(Serial(spec.issuer_code, spec.batch_number, 1))[:-8]  # issuer + batch digits

    def serials(self, start: int, stop: int) -> list[str]:
        """``[str(Serial(issuer, batch, s)) for s in range(start, stop)]``, four check digits per lookup."""
        Serial(self.spec.issuer_code, self.spec.batch_number, start)  # range checks
        Serial(self.spec.issuer_code, self.spec.batch_number, stop - 1)
        table, digits, out = damm_table4(), "0123456789", []
        for high in range(start // 10000, (stop - 1) // 10000 + 1):
            head = f"{self._serial_prefix}{high:03d}"
            base = int(damm.check_digit(head)) * 10000  # the check digit of a prefix is its interim
            low_start, low_stop = max(start - high * 10000, 0), min(stop - high * 10000, 10000)
            out += [f"{head}{low:04d}{digits[table[base + low]]}" for low in range(low_start, low_stop)]
        return out

    def make_chunk(self, start: int, stop: int) -> GeneratedChunk:
        count = stop - start
        codes = (generate_codes(count) if self.code_source is None
                 else [_checked_code(self.code_source()) for _ in range(count)])
        serials = self.serials(start, stop)
        head, middle = self._claims.head, self._claims.middle  # its payload(), inlined: lengths are fixed
        code_hash, payloads, hashes = self._hash, [], []
        for serial, code in zip(serials, codes):
            code_bytes = code.encode("ascii")
            payloads.append(head + serial.encode("ascii") + middle + code_bytes)
            hashes.append(code_hash(code_bytes))
        tokens = self.signer.sign_payloads(payloads)
        suffix = self._csv_suffix
        csv = "".join([f"{serial},{code},{token}{suffix}"
                       for serial, code, token in zip(serials, codes, tokens)]).encode("ascii")
        if self.form == ROWS:
            return GeneratedChunk(start, stop, csv, rows=list(zip(serials, range(start, stop), hashes)))
        batch, suffix = self.spec.batch_number, self._copy_suffix
        copy_text = "".join([f"{serial}\t{batch}\t{sequence}\t\\\\x{digest.hex()}{suffix}"
                             for serial, sequence, digest in zip(serials, range(start, stop), hashes)])
        return GeneratedChunk(start, stop, csv, copy_text=copy_text.encode("ascii"))


@dataclass(frozen=True, slots=True)
class WorkerSetup:
    """What a signing worker needs to make a batch's cards (in memory only, never on disk)."""

    spec: BatchSpec
    key_id: str
    raw_key: bytes
    pepper: bytes
    form: str


_worker_factory: tuple[WorkerSetup, CardFactory] | None = None


def _init_worker() -> None:
    """Start-up work that needs no key: runs while the parent unlocks the key store."""
    damm_table4()


def _work(job: tuple[WorkerSetup, int, int]) -> GeneratedChunk:
    """One chunk; the factory is built on a worker's first chunk of a batch and kept."""
    global _worker_factory
    setup, start, stop = job
    if _worker_factory is None or _worker_factory[0] != setup:
        factory = CardFactory(setup.spec, signer_from_raw(setup.key_id, setup.raw_key), setup.pepper, form=setup.form)
        _worker_factory = (setup, factory)
    return _worker_factory[1].make_chunk(start, stop)


@contextlib.contextmanager
def _without_main_module() -> Iterator[None]:
    """Start spawned workers without re-running the program's ``__main__``.

    A spawned process normally imports the parent's main script first; for
    ``voucherctl`` that is the whole CLI (about a second of CPU per worker),
    while a signing worker needs only this module. While the pool starts, the
    main module is a bare stand-in with no file to import.
    """
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


def _chunks(count: int, size: int, *, ramp: bool = False) -> Iterator[tuple[int, int]]:
    """Bounds ``(start, stop)`` covering sequences 1..count.

    With ``ramp`` the first chunks are smaller (an eighth of ``size``,
    doubling): the database starts loading sooner while the workers fill the
    pipeline with full-size chunks.
    """
    start, step = 1, max(size // 8, 1) if ramp else size
    while start <= count:
        stop = min(start + step, count + 1)
        yield start, stop
        start, step = stop, min(step * 2, size)


def wants_workers(count: int, workers: int | None) -> int:
    """How many signing processes a batch of ``count`` cards gets (0: generate in this process)."""
    if workers is None:
        workers = os.cpu_count() or 1
    return 0 if workers <= 1 or count < PARALLEL_THRESHOLD else workers


class SigningPool:
    """Spawned signing processes, started before the batch's keys are unlocked.

    A worker's interpreter start-up and imports (a few hundred milliseconds of
    CPU each) then overlap the parent's scrypt unlocks and database set-up
    instead of following them. The key material goes out with each chunk
    (a hundred bytes next to a chunk's megabytes of results) over the pool's
    pipes, in memory only, as it did before as initializer arguments.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        context = multiprocessing.get_context("spawn")
        with _without_main_module():
            self._pool = context.Pool(workers, initializer=_init_worker)

    def chunks(self, setup: WorkerSetup, bounds: Iterator[tuple[int, int]]) -> Iterator[GeneratedChunk]:
        """The chunks of ``bounds`` in order, with at most two per worker in flight."""
        # A sliding window: backpressure keeps memory flat when the consumer
        # (the database) is slower than the workers.
        window: deque = deque()
        for start, stop in bounds:
            window.append(self._pool.apply_async(_work, ((setup, start, stop),)))
            if len(window) >= 2 * self.workers:
                yield window.popleft().get()
        while window:
            yield window.popleft().get()

    def close(self) -> None:
        """Stop the workers (whatever they were doing: the batch either finished or failed)."""
        self._pool.terminate()
        self._pool.join()

    def __enter__(self) -> SigningPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@contextlib.contextmanager
def signing_pool(count: int, workers: int | None) -> Iterator[SigningPool | None]:
    """A :class:`SigningPool` if a batch of ``count`` cards is worth one, else None."""
    wanted = wants_workers(count, workers)
    if not wanted:
        yield None
        return
    with SigningPool(wanted) as pool:
        yield pool


def generate(spec: BatchSpec, key_id: str, raw_key: bytes, pepper: bytes, *, workers: int | None = None,
             chunk_size: int = CHUNK_SIZE, form: str = COPY,
             pool: SigningPool | None = None) -> Iterator[GeneratedChunk]:
    """Yield the batch's cards in sequence order, chunk by chunk (flat memory).

    ``pool`` (already started, left running) does the work; without one, a
    pool of ``workers`` is started here if the batch is big enough.
    """
    if pool is None and wants_workers(spec.count, workers):
        with SigningPool(wants_workers(spec.count, workers)) as own:
            yield from generate(spec, key_id, raw_key, pepper, chunk_size=chunk_size, form=form, pool=own)
        return
    if pool is None:
        factory = CardFactory(spec, signer_from_raw(key_id, raw_key), pepper, form=form)
        for start, stop in _chunks(spec.count, chunk_size):
            yield factory.make_chunk(start, stop)
        return
    setup = WorkerSetup(spec, key_id, raw_key, pepper, form)
    yield from pool.chunks(setup, _chunks(spec.count, chunk_size, ramp=True))
