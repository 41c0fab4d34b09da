"""Staff passwords: NIST SP 800-63B rules, stored as Argon2id hashes.

At least 12 characters, at most 256, no composition rules, refused if on the
shipped common-password list (``data/common-passwords.txt``). The hash is
argon2-cffi's Argon2id with its RFC 9106 "low memory" profile.
"""
from __future__ import annotations

import functools
import unicodedata
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from vouchers.errors import VoucherError

MIN_LENGTH = 12
MAX_LENGTH = 256
# Argon2id, t=3, m=64 MiB, p=4 (RFC 9106 second recommendation). Tests swap in a cheap one (tests/conftest).
HASHER = PasswordHasher()
_dummy: dict[int, str] = {}


class WeakPassword(VoucherError, ValueError):
    code = "weak_password"


def normalise(password: str) -> str:
    """NFKC, as SP 800-63B asks, so the same password typed on two keyboards is the same."""
    return unicodedata.normalize("NFKC", password)


@functools.cache
def common_passwords() -> frozenset[str]:
    text = resources.files("vouchers.staff.data").joinpath("common-passwords.txt").read_text("utf-8")
    return frozenset(line.strip().casefold() for line in text.splitlines()
                     if line.strip() and not line.startswith("#"))


def check_password(password: str, *, username: str = "") -> None:
    """Refuse a password that breaks the rules (the message never repeats it)."""
    password = normalise(password)
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"the password must have at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"the password must have at most {MAX_LENGTH} characters")
    folded = password.casefold()
    if folded in common_passwords():
        raise WeakPassword("that password is on the list of common passwords: choose another")
    if username and folded == username.casefold():
        raise WeakPassword("the password must not be the username")


def hash_password(password: str) -> str:
    return HASHER.hash(normalise(password))


def _dummy_hash() -> str:
    """Verified when the username is unknown, so both paths cost the same (no enumeration by timing)."""
    key = id(HASHER)
    if key not in _dummy:
        _dummy[key] = HASHER.hash("no such staff member, dummy password")
    return _dummy[key]


def verify_password(stored: str | None, password: str) -> bool:
    """True if ``password`` matches; with ``stored`` None a dummy hash is checked (same cost)."""
    try:
        return HASHER.verify(stored or _dummy_hash(), normalise(password)) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
