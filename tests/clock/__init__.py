"""The clock of processes the suite starts: libfaketime (Debian's package faketime) with a small fix.

Two uses: ``scripts/test`` runs the whole suite again with every Python process's wall clock shifted
(``python -m tests.clock +400d`` prints the environment for it), and e2e tests start a CLI process
whose clock begins at a fixed instant (:func:`at`). Only the wall clock moves; the monotonic clock
stays real (see monotonic_sleep.c for why that needs a shim).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).parent
SHIM_SOURCE = HERE / "monotonic_sleep.c"
BUILD = Path(__file__).parents[2] / ".venv" / "faketime"


class FaketimeMissing(RuntimeError):
    pass


def libfaketime() -> Path:
    found = sorted(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))
    if not found:
        raise FaketimeMissing("libfaketime is missing: install Debian's package faketime (scripts/test does)")
    return found[0]


def shim() -> Path:
    """The compiled monotonic_sleep.c, built once per source version (gcc)."""
    digest = hashlib.sha256(SHIM_SOURCE.read_bytes()).hexdigest()[:12]
    target = BUILD / f"monotonic_sleep-{digest}.so"
    if not target.exists():
        BUILD.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".tmp")
        subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-o", str(partial), str(SHIM_SOURCE), "-ldl"],
                       check=True, capture_output=True)
        partial.replace(target)
    return target


def environment(faketime: str) -> dict[str, str]:
    """Variables that give a process (and its children) the wall clock ``faketime`` (libfaketime syntax:
    "+400d" shifts it, "@2026-11-26 02:00:00" starts it at that UTC instant)."""
    return {"LD_PRELOAD": f"{shim()} {libfaketime()}", "FAKETIME": faketime, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}


def at(instant: dt.datetime) -> dict[str, str]:
    """Environment for a child process whose clock starts at ``instant`` (aware) and then ticks."""
    if instant.tzinfo is None:
        raise ValueError("the injected instant needs a time zone")
    # libfaketime reads an absolute time in the process's local zone: make that UTC
    return {**environment(instant.astimezone(dt.timezone.utc).strftime("@%Y-%m-%d %H:%M:%S")), "TZ": "UTC"}



_CLOCK_VARIABLES = ("LD_PRELOAD", "FAKETIME", "FAKETIME_DONT_FAKE_MONOTONIC")


@contextlib.contextmanager
def real_clock_for_tools() -> Iterator[None]:
    """Start a tool that is not under test (the browser: Playwright's Node driver and Chromium) with the
    real clock: libfaketime in Chromium's processes breaks its start-up, and the browser's clock does not
    decide anything the code under test does."""
    saved = {k: os.environ.pop(k) for k in _CLOCK_VARIABLES if k in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


# An expiry always years ahead of today (read once, relative to the real clock). Stock made with a fixed
# expiry becomes unsellable and unredeemable once that date has passed for every process that runs on the
# real clock (CLI processes, servers), so tests use this instead.
FAR_EXPIRY: dt.date = dt.date(dt.date.today().year + 3, 12, 31)
