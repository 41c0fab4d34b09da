"""The second factor: TOTP (RFC 6238, SHA-1, 6 digits, 30 s), sealed at rest, each code used once.

A code is accepted for the current time step and one step either side; the
step that matched is returned and stored as the account's newest, and a code of
that step or an older one is refused from then on (no replay, even within its
90 seconds). The base32 secret is sealed with XSalsa20-Poly1305 under a key
derived from the key store's pepper (:func:`seal_key`), so a database dump
alone yields no second factor.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac

import pyotp
from nacl.exceptions import CryptoError
from nacl.secret import SecretBox

from vouchers.errors import VoucherError

STEP_SECONDS = 30
DIGITS = 6
ISSUER = "Vouchers console"


class TotpSealError(VoucherError):
    code = "totp_seal"


def seal_key(pepper: bytes) -> bytes:
    """The key that seals TOTP secrets: purpose-bound, derived from the pepper (never stored)."""
    return hmac.new(pepper, b"vouchers/staff/totp-seal", hashlib.sha256).digest()


def new_secret() -> str:
    return pyotp.random_base32(length=32)  # 160 bits, as RFC 4226 recommends


def provisioning_uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=username, issuer_name=ISSUER)


def seal(key: bytes, secret: str, username: str) -> bytes:
    """Sealed and bound to the username (a sealed secret copied to another row does not open)."""
    box = SecretBox(key)
    return bytes(box.encrypt(secret.encode("ascii") + b"\x00" + username.encode("utf-8")))


def unseal(key: bytes, sealed: bytes, username: str) -> str:
    try:
        plain = SecretBox(key).decrypt(bytes(sealed))
    except CryptoError as e:
        raise TotpSealError("a staff member's second factor cannot be opened with this key store") from e
    secret, _, bound = plain.partition(b"\x00")
    if bound.decode("utf-8") != username:
        raise TotpSealError("a staff member's second factor belongs to another account")
    return secret.decode("ascii")


def code_at(secret: str, at: dt.datetime) -> str:
    """The code of ``at``'s time step (for enrolment checks and tests)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).at(at)


def step_of(at: dt.datetime) -> int:
    return int(at.timestamp()) // STEP_SECONDS


def matching_step(secret: str, code: str, now: dt.datetime, last_step: int | None) -> int | None:
    """The time step (now-1, now or now+1) whose code is ``code`` and that is newer than ``last_step``."""
    code = (code or "").strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = step_of(now)
    found = None
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), code) and (last_step is None or step > last_step):
            found = step if found is None else found
    return found
