"""Adapters between Python iterators and pyrage's streaming file API."""
from __future__ import annotations

import io
import queue
import threading
from collections.abc import Iterable, Iterator
from typing import BinaryIO

import pyrage

_END = object()


class IterReader(io.RawIOBase):
    """A readable stream over an iterator of byte chunks (pulled lazily).

    An exception raised by the iterator is kept in ``error`` so the caller can
    re-raise the original after the consumer (pyrage) gives up.
    """

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buffer = b""
        self.error: BaseException | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:  # type: ignore[override]
        try:
            while len(self._buffer) < len(target):
                chunk = next(self._chunks, None)
                if chunk is None:
                    break
                self._buffer += chunk
        except BaseException as e:
            self.error = e
            raise
        n = min(len(target), len(self._buffer))
        target[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n


def encrypt_stream(chunks: Iterable[bytes], out: BinaryIO, recipients: list) -> None:
    """age-encrypt the concatenated chunks into ``out``; re-raise the producer's own error."""
    reader = IterReader(chunks)
    try:
        pyrage.encrypt_io(reader, out, recipients)
    except BaseException:
        if reader.error is not None:
            raise reader.error
        raise
    if reader.error is not None:
        raise reader.error


class _QueueWriter(io.RawIOBase):
    def __init__(self, q: queue.Queue) -> None:
        self._q = q

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[override]
        self._q.put(bytes(data))
        return len(data)


def decrypt_chunks(source: BinaryIO, identities: list) -> Iterator[bytes]:
    """Yield plaintext chunks of an age stream, decrypting in a helper thread."""
    q: queue.Queue = queue.Queue(maxsize=64)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            pyrage.decrypt_io(source, _QueueWriter(q), identities)
        except BaseException as e:  # handed to the consumer below
            failure.append(e)
        finally:
            q.put(_END)

    thread = threading.Thread(target=run, name="age-decrypt", daemon=True)
    thread.start()
    while True:
        item = q.get()
        if item is _END:
            break
        yield item
    thread.join()
    if failure:
        raise failure[0]


def iter_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Split a chunk stream into lines (without the newline)."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        yield from lines
    if pending:
        yield pending
