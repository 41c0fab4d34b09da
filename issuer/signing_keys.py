"""Ed25519 signing keys: create, rotate, revoke, unlock for signing.

The only code that seals or unseals a signing key (under the issuer's
``VOUCHER_KEY_PASSPHRASE``): the web process never imports ``issuer``
(tests/unit/test_architecture.py), and its secret cannot open these files.
"""
from __future__ import annotations

import datetime as dt
import logging
import secrets
from dataclasses import replace

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from vouchers.keystore.errors import KeyNotFound, KeyStateError, NoActiveKey
from vouchers.keystore.files import write_private
from vouchers.keystore.sealing import seal, unseal
from vouchers.keystore.store import KeyRecord, KeyStore, signing_purpose, utc_stamp
from vouchers.keyring import KeyStatus
from vouchers.token import TokenSigner

log = logging.getLogger(__name__)
_RAW = (serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())


def _new_key_id(now: dt.datetime) -> str:
    return f"ev{now.astimezone(dt.timezone.utc):%Y%m%d}-{secrets.token_hex(3)}"


def _store_signing_key(store: KeyStore, key_id: str, private_raw: bytes, passphrase: str) -> None:
    write_private(store.signing_path(key_id), seal(private_raw, passphrase, signing_purpose(key_id)))


def signing_key_raw(store: KeyStore, key_id: str, passphrase: str) -> bytes:
    """The raw private key of ``key_id``, unsealed with the issuer passphrase (any other: WrongPassphrase)."""
    path = store.signing_path(key_id)
    if not path.exists():
        raise KeyNotFound(f"private key of {key_id!r} is missing from the key store")
    return unseal(path.read_bytes(), passphrase, signing_purpose(key_id))


def _generate(store: KeyStore, passphrase: str, now: dt.datetime) -> KeyRecord:
    private = Ed25519PrivateKey.generate()
    key_id = _new_key_id(now)
    _store_signing_key(store, key_id, private.private_bytes(*_RAW), passphrase)
    public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    log.info("created signing key %s", key_id)
    return KeyRecord(key_id, public, KeyStatus.ACTIVE, utc_stamp(now))


def create_key(store: KeyStore, passphrase: str, now: dt.datetime) -> KeyRecord:
    """The first active key. With an active key present, use :func:`rotate_key`."""
    store.check_passphrase(passphrase)  # fail fast on a wrong passphrase
    with store.lock():
        records = store.records()
        if any(r.status is KeyStatus.ACTIVE for r in records):
            raise KeyStateError("an active signing key exists already: use `voucherctl keys rotate`")
        record = _generate(store, passphrase, now)
        store.write_records([*records, record])
        return record


def rotate_key(store: KeyStore, passphrase: str, now: dt.datetime) -> tuple[KeyRecord, list[str]]:
    """New active key; the previous active keys are retired (their tokens still verify)."""
    store.check_passphrase(passphrase)
    with store.lock():
        records = store.records()
        retired = [r.key_id for r in records if r.status is KeyStatus.ACTIVE]
        records = [replace(r, status=KeyStatus.RETIRED, changed_at=utc_stamp(now)) if r.status is KeyStatus.ACTIVE
                   else r for r in records]
        record = _generate(store, passphrase, now)
        store.write_records([*records, record])
        return record, retired


def revoke_key(store: KeyStore, key_id: str, now: dt.datetime) -> KeyRecord:
    """Revoke a key: every token it signed fails verification from now on."""
    with store.lock():
        records = store.records()
        target = store.record(key_id)
        if target.status is KeyStatus.REVOKED:
            raise KeyStateError(f"key {key_id!r} is already revoked")
        updated = replace(target, status=KeyStatus.REVOKED, changed_at=utc_stamp(now))
        store.write_records([updated if r.key_id == key_id else r for r in records])
        log.warning("revoked signing key %s", key_id)
        return updated


def active_record(store: KeyStore) -> KeyRecord:
    active = [r for r in store.records() if r.status is KeyStatus.ACTIVE]
    if not active:
        raise NoActiveKey("no active signing key: run `voucherctl keys create` (or `keys rotate`)")
    return active[-1]


def unlock_signing_key(store: KeyStore, passphrase: str) -> tuple[str, bytes]:
    """(key_id, raw private key bytes) of the active key, for signers in worker processes."""
    record = active_record(store)
    return record.key_id, signing_key_raw(store, record.key_id, passphrase)


def signer_from_raw(key_id: str, raw: bytes) -> TokenSigner:
    """A token signer (libsodium) for the raw 32-byte private key that :func:`unlock_signing_key` returns."""
    return TokenSigner(key_id, raw)
