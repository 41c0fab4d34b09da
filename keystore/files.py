"""Private files: created 0600 in 0700 directories, replaced atomically."""
from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from typing import BinaryIO
from pathlib import Path


def ensure_private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


@contextlib.contextmanager
def private_file(path: Path, temp_suffix: str = "tmp") -> Iterator[BinaryIO]:
    """A 0600 file that appears at ``path`` (atomically) only if the block succeeds.

    It is written as ``.<name>.<pid>.<temp_suffix>`` beside ``path`` and
    removed on any failure; raises OSError if it cannot be created.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{temp_suffix}")
    handle = os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")
    try:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())
        handle.close()
        os.replace(tmp, path)
    except BaseException:
        handle.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically with mode 0600."""
    with private_file(path) as handle:
        handle.write(data)


def append_private(path: Path, data: bytes) -> None:
    """Append ``data`` to ``path`` (created 0600), synced to disk."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def exclusive_lock(directory: Path) -> Iterator[None]:
    """Serialise writers of one key store across processes."""
    fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
