"""Private files: created 0600 in 0700 directories, replaced atomically."""
from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

# Never an existing file, and never through a symlink planted at the name.
_CREATE_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def ensure_private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def create_private(path: Path) -> int:
    """Create ``path`` anew with mode 0600 (whatever the umask) and return its descriptor.

    Raises OSError (``FileExistsError``) if anything exists there, a symlink included.
    """
    fd = os.open(path, _CREATE_NEW, 0o600)
    try:
        os.fchmod(fd, 0o600)
    except BaseException:
        os.close(fd)
        raise
    return fd


def temp_path(path: Path, suffix: str = "tmp") -> Path:
    """An unpredictable name beside ``path``: ``.<name>.<random>.<pid>.<suffix>``.

    The pid stays second to last so a sweep can tell a dead writer's leftovers from a live one's.
    """
    return path.with_name(f".{path.name}.{secrets.token_hex(8)}.{os.getpid()}.{suffix}")


@contextlib.contextmanager
def private_file(path: Path, temp_suffix: str = "tmp") -> Iterator[BinaryIO]:
    """A 0600 file that appears at ``path`` (atomically) only if the block succeeds.

    It is written under :func:`temp_path` beside ``path``, created by
    :func:`create_private`, and removed on any failure; raises OSError if it
    cannot be created.
    """
    path = Path(path)
    tmp = temp_path(path, temp_suffix)
    handle = os.fdopen(create_private(tmp), "wb")
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


def replace_private_all(items: list[tuple[Path, bytes]]) -> None:
    """Replace several private files together: all are written and synced to temporary files first,
    then renamed in the order given (put the file that marks the change done last).

    A failure while writing changes nothing (the temporary files are removed); only a crash
    between the renames can leave the first ones replaced, so callers keep each file valid on
    its own and a second run finishes the job.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for path, data in items:
            tmp = temp_path(path)
            fd = create_private(tmp)
            staged.append((tmp, path))
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
    except BaseException:
        for tmp, _ in staged:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        raise
    renamed = 0
    try:
        for tmp, path in staged:
            os.replace(tmp, path)
            renamed += 1
    except BaseException:  # interrupted: the files not replaced yet keep their old contents, without litter
        for tmp, _ in staged[renamed:]:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        raise
    for directory in {path.parent for _, path in staged}:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


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
