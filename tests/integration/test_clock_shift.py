"""The shifted-clock run (scripts/test, phase 3) really shifts the clock of the code under test.

scripts/test runs the suite a second time with libfaketime preloaded (``FAKETIME=+400d``) so that a test
passing only in one month fails in CI. PostgreSQL keeps the real clock, so Python's reading minus the
server's is the shift: this test fails if the shift silently stopped taking effect (and, without a shift,
if the two clocks disagree, which would make the shifted run's comparison meaningless).
"""
from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import PG_ADMIN_URL

pytestmark = pytest.mark.postgres

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "y": 365 * 86400}


def expected_shift() -> dt.timedelta:
    """The offset FAKETIME asks for ("+400d", "+3y", "-2h"); zero without libfaketime."""
    spec = os.environ.get("FAKETIME", "")
    if "libfaketime" not in os.environ.get("LD_PRELOAD", "") or not spec:
        return dt.timedelta(0)
    m = re.fullmatch(r"([+-]\d+(?:\.\d+)?)([smhdy]?)", spec.strip())
    assert m, f"scripts/test uses relative FAKETIME offsets, got {spec!r}"
    return dt.timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2) or "s"])


def test_python_clock_is_shifted_against_the_database_server():
    engine = create_engine(PG_ADMIN_URL)
    try:
        with engine.connect() as conn:
            server = conn.execute(text("SELECT now()")).scalar_one()
    finally:
        engine.dispose()
    ours = dt.datetime.now(dt.timezone.utc)
    assert abs((ours - server) - expected_shift()) < dt.timedelta(minutes=5), (ours, server, expected_shift())


def test_child_processes_inherit_the_shift():
    """CLI and server processes started by the tests read the same shifted clock as the test."""
    child = subprocess.run([sys.executable, "-c", "import time; print(time.time())"], capture_output=True,
                           text=True, check=True)
    assert abs(float(child.stdout) - dt.datetime.now(dt.timezone.utc).timestamp()) < 300
