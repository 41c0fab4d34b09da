"""TOTP: the RFC 6238 vectors, the +-1 step window, each code once, secrets sealed and bound to their account."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from vouchers.staff import totp

VECTORS = json.loads((Path(__file__).parents[2] / "vectors" / "staff" / "rfc6238-sha1.json").read_text("utf-8"))
UTC = dt.timezone.utc


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: str(v["unix_time"]))
def test_rfc6238_vectors(vector):
    at = dt.datetime.fromtimestamp(vector["unix_time"], UTC)
    assert totp.step_of(at) == vector["step"]
    assert totp.code_at(VECTORS["secret_base32"], at) == vector["totp8"][-6:]
    assert totp.matching_step(VECTORS["secret_base32"], vector["totp8"][-6:], at, None) == vector["step"]


def test_window_is_one_step_either_side_and_a_used_step_never_again():
    secret = VECTORS["secret_base32"]
    now = dt.datetime(2026, 11, 26, 2, 0, 15, tzinfo=UTC)
    step = totp.step_of(now)
    for offset in (-1, 0, 1):
        code = totp.code_at(secret, now + dt.timedelta(seconds=30 * offset))
        assert totp.matching_step(secret, code, now, None) == step + offset
    for offset in (-2, 2):
        assert totp.matching_step(secret, totp.code_at(secret, now + dt.timedelta(seconds=30 * offset)), now,
                                  None) is None
    code = totp.code_at(secret, now)
    assert totp.matching_step(secret, code, now, last_step=step) is None  # replay
    assert totp.matching_step(secret, totp.code_at(secret, now - dt.timedelta(seconds=30)), now,
                              last_step=step) is None  # an older code after a newer one
    for bad in ("", "12345", "1234567", "abcdef", None):
        assert totp.matching_step(secret, bad, now, None) is None


def test_sealed_secret_opens_only_with_its_key_and_for_its_account():
    key = totp.seal_key(b"p" * 32)
    secret = totp.new_secret()
    sealed = totp.seal(key, secret, "alice")
    assert secret.encode() not in sealed
    assert totp.unseal(key, sealed, "alice") == secret
    with pytest.raises(totp.TotpSealError):
        totp.unseal(key, sealed, "mallory")  # copied onto another account's row
    with pytest.raises(totp.TotpSealError):
        totp.unseal(totp.seal_key(b"q" * 32), sealed, "alice")


def test_provisioning_uri():
    secret = totp.new_secret()
    uri = totp.provisioning_uri(secret, "alice")
    assert uri.startswith("otpauth://totp/") and f"secret={secret}" in uri and "alice" in uri and "period" not in uri
