"""The audit-checkpoint key: sealed, created once, bound to its own purpose."""
from __future__ import annotations

import os
import stat

import pytest
from cryptography.hazmat.primitives import serialization

from vouchers.keystore.audit_key import audit_key_path, ensure_audit_key, load_audit_key
from vouchers.keystore.errors import KeyNotFound, KeyStoreError, KeyStoreMissing, WrongPassphrase
from vouchers.keystore.sealing import unseal
from vouchers.keystore.store import KeyStore, signing_purpose
from tests.conftest import cheap_sealing

PASSPHRASE = "unit test passphrase"
_RAW = (serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())


@pytest.fixture
def store(tmp_path):
    store = KeyStore(tmp_path / "home")
    with cheap_sealing():
        store.initialise(PASSPHRASE, "unit test web secret")
        yield store


def test_created_once_sealed_and_private(store):
    with pytest.raises(KeyNotFound, match="voucherctl init"):
        load_audit_key(store, PASSPHRASE)
    assert ensure_audit_key(store, PASSPHRASE) is True
    key = load_audit_key(store, PASSPHRASE)
    assert ensure_audit_key(store, PASSPHRASE) is False  # idempotent: the same key
    assert load_audit_key(store, PASSPHRASE).private_bytes(*_RAW) == key.private_bytes(*_RAW)
    path = audit_key_path(store)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    raw = key.private_bytes(*_RAW)
    assert raw not in path.read_bytes() and raw.hex().encode() not in path.read_bytes()
    with pytest.raises(KeyStoreError):  # never usable as a token signing key
        unseal(path.read_bytes(), PASSPHRASE, signing_purpose("audit"))
    assert store.records() == []  # not in the voucher key ring


def test_wrong_passphrase_creates_nothing(store):
    with pytest.raises(WrongPassphrase):
        ensure_audit_key(store, "not the passphrase")
    with pytest.raises(WrongPassphrase):  # the web secret seals no issuer key
        ensure_audit_key(store, "unit test web secret")
    assert not audit_key_path(store).exists()
    ensure_audit_key(store, PASSPHRASE)
    with pytest.raises(WrongPassphrase):
        load_audit_key(store, "not the passphrase")


def test_needs_a_key_store(tmp_path):
    with pytest.raises(KeyStoreMissing):
        ensure_audit_key(KeyStore(tmp_path), PASSPHRASE)
