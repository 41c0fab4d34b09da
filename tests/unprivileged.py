"""File-permission tests that also mean something as root (CI runs as root, and root may write anywhere).

``run_unprivileged(fn)`` calls ``fn`` as a user that permission bits apply to: in this process when the tests
do not run as root; as root, in a forked child that has dropped to ``nobody`` (its result or exception comes
back through a pipe, pickled). ``unprivileged_dir`` is a fresh folder that such a user owns and can reach:
``tmp_path`` when not root; as root, a folder under the system temporary directory (``tmp_path``'s parents are
private to root) given to ``nobody``, removed afterwards.

A machine where root cannot drop privileges fails these tests: they are never skipped.
"""
from __future__ import annotations

import os
import pickle
import pwd
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")
USER = "nobody"


def is_root() -> bool:
    return os.geteuid() == 0


def _drop_privileges() -> None:
    user = pwd.getpwnam(USER)
    os.setgroups([])
    os.setgid(user.pw_gid)
    os.setuid(user.pw_uid)
    if os.geteuid() == 0 or os.getuid() == 0:  # pragma: no cover - setuid raises first
        raise RuntimeError("still root after setuid")


def _portable(outcome: tuple[str, Any]) -> bytes:
    try:
        return pickle.dumps(outcome)
    except Exception:  # an exception that does not pickle: its type and message are enough to report
        kind, value = outcome
        return pickle.dumps((kind, RuntimeError(f"{type(value).__qualname__}: {value}")))


def run_unprivileged(fn: Callable[[], T]) -> T:
    """``fn()`` as a user whom read-only files and folders stop; its value, or its exception re-raised."""
    if not is_root():
        return fn()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        status = 1
        try:
            os.close(read_end)
            try:
                _drop_privileges()
                outcome: tuple[str, Any] = ("value", fn())
            except BaseException as e:  # noqa: BLE001 - every outcome goes back to the parent
                outcome = ("raise", e)
            data = _portable(outcome)
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(data)
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    _, wait_status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(wait_status) != 0 or not data:
        raise RuntimeError(f"the unprivileged child failed (wait status {wait_status})")
    kind, value = pickle.loads(data)
    if kind == "raise":
        raise value
    return value


@pytest.fixture
def unprivileged_dir(tmp_path: Path) -> Iterator[Path]:
    if not is_root():
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(prefix="voucher-unprivileged-"))
    try:
        user = pwd.getpwnam(USER)
        os.chown(folder, user.pw_uid, user.pw_gid)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
