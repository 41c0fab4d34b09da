"""Generating codes, hashes and signed tokens, in parallel where it pays.

Worker processes receive the signing key and pepper once (initializer), in
memory only; chunks of sequence numbers go out, generated cards come back in
order.
"""
from __future__ import annotations

import datetime as dt
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from issuer.cardstore import card_csv_line
from issuer.signing_keys import signer_from_raw
from vouchers.claims import VoucherClaims
from vouchers.codes import code_hash_normalized, generate_code
from vouchers.money import format_amount
from vouchers.serials import Serial
from vouchers.token import TokenSigner

CHUNK_SIZE = 5000
PARALLEL_THRESHOLD = 20_000  # below this a process pool costs more than it saves


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
    """Cards ``start..stop-1`` in the three forms the caller writes them.

    Built entirely in the worker so the parent process only moves bytes:
    ``rows`` for executemany, ``copy_text`` for PostgreSQL COPY (text format),
    ``csv`` for the sealed card file.
    """

    start: int
    stop: int
    rows: list[tuple]
    copy_text: bytes
    csv: bytes

    def __len__(self) -> int:
        return self.stop - self.start


class CardFactory:
    """Makes cards: fresh code, its keyed hash, its signed token."""

    def __init__(self, spec: BatchSpec, signer: TokenSigner, pepper: bytes,
                 code_source: Callable[[], str] = generate_code) -> None:
        self.spec, self.signer, self.pepper, self.code_source = spec, signer, pepper, code_source

    def make_chunk(self, start: int, stop: int) -> GeneratedChunk:
        s = self.spec
        face, face_text, expires_text = s.face_value, format_amount(s.face_value), s.expires.isoformat()
        rows: list[tuple] = []
        copy_lines: list[str] = []
        csv_lines: list[str] = []
        for sequence in range(start, stop):
            serial = str(Serial(s.issuer_code, s.batch_number, sequence))
            code = self.code_source()
            token = self.signer.sign(VoucherClaims(serial, s.batch_id, face, s.currency, s.expires, code))
            digest = code_hash_normalized(self.pepper, code)
            rows.append((serial, s.batch_number, sequence, digest, face, s.currency, expires_text, "inactive"))
            copy_lines.append(f"{serial}\t{s.batch_number}\t{sequence}\t\\\\x{digest.hex()}\t{face}\t"
                              f"{s.currency}\t{expires_text}\tinactive\n")
            csv_lines.append(card_csv_line(serial, code, token, face_text, s.currency, expires_text))
        return GeneratedChunk(start, stop, rows, "".join(copy_lines).encode("utf-8"),
                              "".join(csv_lines).encode("utf-8"))


_worker_factory: CardFactory | None = None


def _init_worker(spec: BatchSpec, key_id: str, raw_key: bytes, pepper: bytes) -> None:
    global _worker_factory
    _worker_factory = CardFactory(spec, signer_from_raw(key_id, raw_key), pepper)


def _work(bounds: tuple[int, int]) -> GeneratedChunk:
    assert _worker_factory is not None
    return _worker_factory.make_chunk(*bounds)


def _chunks(count: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(1, count + 1, size):
        yield start, min(start + size, count + 1)


def generate(spec: BatchSpec, key_id: str, raw_key: bytes, pepper: bytes, *, workers: int | None = None,
             chunk_size: int = CHUNK_SIZE) -> Iterator[GeneratedChunk]:
    """Yield the batch's cards in sequence order, chunk by chunk (flat memory)."""
    if workers is None:
        workers = os.cpu_count() or 1
    if workers <= 1 or spec.count < PARALLEL_THRESHOLD:
        factory = CardFactory(spec, signer_from_raw(key_id, raw_key), pepper)
        for start, stop in _chunks(spec.count, chunk_size):
            yield factory.make_chunk(start, stop)
        return
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=_init_worker, initargs=(spec, key_id, raw_key, pepper)) as pool:
        # A sliding window of chunks in flight: backpressure keeps memory flat
        # when the consumer (the database) is slower than the workers.
        window: deque = deque()
        bounds = _chunks(spec.count, chunk_size)
        for item in bounds:
            window.append(pool.apply_async(_work, (item,)))
            if len(window) >= 2 * workers:
                yield window.popleft().get()
        while window:
            yield window.popleft().get()
