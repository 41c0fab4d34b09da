"""The audit-checkpoint key: Ed25519, sealed in the key store, used only to sign audit checkpoints.

It is not a voucher-signing key (no key id in the ring, its own sealing purpose),
so a token key can never sign a checkpoint nor the reverse. Its public half is
not kept in the clear: a verifier takes it from the sealed file, which nobody
can replace without the passphrase - so writing to ``VOUCHER_HOME`` is not
enough to forge a checkpoint.
"""
from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from vouchers.keystore.errors import KeyNotFound, KeyStoreError
from vouchers.keystore.files import write_private
from vouchers.keystore.sealing import seal, unseal
from vouchers.keystore.store import KeyStore

PURPOSE = "audit-checkpoint-key"
_RAW = (serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())


def audit_key_path(store: KeyStore) -> Path:
    return store.dir / "audit-checkpoint.sealed"


def ensure_audit_key(store: KeyStore, passphrase: str) -> bool:
    """Create the key if the store has none; True if created now (idempotent)."""
    path = audit_key_path(store)
    with store.lock():
        if path.exists():
            return False
        store.check_passphrase(passphrase)  # seal only under the store's own issuer passphrase
        write_private(path, seal(Ed25519PrivateKey.generate().private_bytes(*_RAW), passphrase, PURPOSE))
        return True


def load_audit_key(store: KeyStore, passphrase: str) -> Ed25519PrivateKey:
    """The unsealed key; KeyNotFound if the store has none."""
    store.require()
    path = audit_key_path(store)
    if not path.exists():
        raise KeyNotFound(f"no audit-checkpoint key in {store.dir}: run `voucherctl init` "
                          "(if checkpoints were signed before, the key was removed and they cannot be verified)")
    raw = unseal(path.read_bytes(), passphrase, PURPOSE)
    try:
        return Ed25519PrivateKey.from_private_bytes(raw)
    except ValueError as e:
        raise KeyStoreError("the sealed audit-checkpoint key is corrupt") from e
