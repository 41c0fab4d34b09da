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

    Each chunk's bytes are copied once, into the consumer's buffer (no
    re-slicing of the remainder: chunks are megabytes, reads are kilobytes).
    An exception raised by the iterator is kept in ``error`` so the caller can
    re-raise the original after the consumer (pyrage) gives up.
    """

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._view = memoryview(b"")
        self._offset = 0
        self.error: BaseException | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:  # type: ignore[override]
        target = memoryview(target).cast("B")
        wanted, filled = len(target), 0
        while filled < wanted:
            if self._offset >= len(self._view):
                try:
                    chunk = next(self._chunks, None)
                except BaseException as e:
                    self.error = e
                    raise
                if chunk is None:
                    break
                self._view, self._offset = memoryview(chunk).cast("B"), 0
                continue
            n = min(wanted - filled, len(self._view) - self._offset)
            target[filled : filled + n] = self._view[self._offset : self._offset + n]
            self._offset += n
            filled += n
        return filled


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
