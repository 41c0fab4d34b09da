"""Helpers for tests of staff accounts: a cheap Argon2 cost, TOTP codes at an instant."""
from __future__ import annotations

import datetime as dt

import pytest
from argon2 import PasswordHasher

from vouchers.staff import passwords, totp

GOOD_PASSWORD = "correct horse battery staple"


def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2id at a test-only cost (the production cost is checked in tests/unit/staff)."""
    monkeypatch.setattr(passwords, "HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def code(secret: str, at: dt.datetime, steps: int = 0) -> str:
    """The TOTP code ``steps`` time steps after ``at``'s."""
    return totp.code_at(secret, at + dt.timedelta(seconds=totp.STEP_SECONDS * steps))
