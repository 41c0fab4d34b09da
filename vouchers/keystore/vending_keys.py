"""STS vending keys (DKGA04) in the key store, sealed under the web secret VOUCHER_WEB_PASSPHRASE.

They live in ``<VOUCHER_HOME>/keys/vending/``, one sealed file per (SGC, KRN,
key type), with their own sealing purpose (``web:vending-key:<sgc>:<krn>:<kt>``;
a store made before the split has ``vending-key:...`` under the issuer
passphrase until ``voucherctl keys split-web-secret``), so a vending-key file
can never be unsealed as a signing key or the reverse.
This module never touches voucher-signing keys: the web process may import it
(to vend tokens) without being able to sign vouchers.

File names carry no secret (``sgc123457-krn1-kt2.sealed``), so the list of
keys is readable without the passphrase.
"""
from __future__ import annotations

import re
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from vouchers.keystore.errors import KeyNotFound, KeyStateError, KeyStoreError
from vouchers.keystore.files import ensure_private_dir, exclusive_lock, write_private
from vouchers.keystore.sealing import WEB_PREFIX, seal, unseal
from vouchers.keystore.store import KeyStore

VENDING_KEY_BYTES = 20  # DKGA04 as verified by the published vectors (160-bit vending keys)
_NAME = re.compile(r"^sgc(\d{6})-krn(\d)-kt(\d)\.sealed$")


@dataclass(frozen=True, order=True)
class VendingKeyId:
    """Which meters a vending key serves: supply group code, key revision number, key type."""

    sgc: int
    krn: int
    key_type: int = 2

    def __post_init__(self) -> None:
        for name, value, low, high in (("SGC", self.sgc, 0, 999_999), ("KRN", self.krn, 1, 9),
                                       ("key type", self.key_type, 0, 3)):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise KeyStoreError(f"the {name} of a vending key must be {low}..{high}")

    @property
    def file_name(self) -> str:
        return f"sgc{self.sgc:06d}-krn{self.krn}-kt{self.key_type}.sealed"

    @property
    def purpose(self) -> str:
        return WEB_PREFIX + self.legacy_purpose

    @property
    def legacy_purpose(self) -> str:
        """The purpose before the split (sealed under the issuer passphrase)."""
        return f"vending-key:{self.sgc:06d}:{self.krn}:{self.key_type}"

    def as_dict(self) -> dict[str, int]:
        return {"sgc": self.sgc, "krn": self.krn, "key_type": self.key_type}


def vending_dir(store: KeyStore) -> Path:
    return store.dir / "vending"


def list_vending_keys(store: KeyStore) -> list[VendingKeyId]:
    """The vending keys present (no passphrase needed: names only)."""
    directory = vending_dir(store)
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        m = _NAME.match(path.name)
        if m:
            found.append(VendingKeyId(int(m.group(1)), int(m.group(2)), int(m.group(3))))
    return sorted(found)


def store_vending_key(store: KeyStore, key_id: VendingKeyId, key: bytes, passphrase: str, *,
                      replace: bool = False) -> None:
    """Seal ``key`` (20 bytes) under ``key_id``; an existing key is kept unless ``replace``.

    Only into an initialised, split store, and only with its web secret ``passphrase`` (checked against
    the pepper): a key sealed under another passphrase would be found unusable only when a meter needs it.
    """
    if not isinstance(key, (bytes, bytearray)) or len(key) != VENDING_KEY_BYTES:
        raise KeyStoreError(f"a vending key is {VENDING_KEY_BYTES} bytes ({2 * VENDING_KEY_BYTES} hex digits)")
    store.pepper(passphrase)
    directory = ensure_private_dir(vending_dir(store))
    with exclusive_lock(store.dir):
        path = directory / key_id.file_name
        if path.exists() and not replace:
            raise KeyStateError(f"a vending key for SGC {key_id.sgc:06d} KRN {key_id.krn} "
                                f"key type {key_id.key_type} already exists")
        write_private(path, seal(bytes(key), passphrase, key_id.purpose))


def generate_vending_key(store: KeyStore, key_id: VendingKeyId, passphrase: str) -> None:
    """A fresh random vending key (for test supply groups; real ones come from the STS key management centre)."""
    store_vending_key(store, key_id, secrets.token_bytes(VENDING_KEY_BYTES), passphrase)


def load_vending_key(store: KeyStore, key_id: VendingKeyId, passphrase: str) -> bytes:
    """The key, unsealed with the web secret ``passphrase``."""
    store.require_split()
    path = vending_dir(store) / key_id.file_name
    if not path.exists():
        raise KeyNotFound(f"no vending key for SGC {key_id.sgc:06d} KRN {key_id.krn} key type {key_id.key_type}")
    return unseal(path.read_bytes(), passphrase, key_id.purpose)


class VendingKeyRing:
    """Unseals vending keys on first use and keeps them in memory (scrypt costs ~0.1 s per file)."""

    def __init__(self, store: KeyStore, passphrase: str) -> None:
        """``passphrase`` is the web secret (VOUCHER_WEB_PASSPHRASE)."""
        self.store = store
        self._passphrase = passphrase
        self._keys: dict[VendingKeyId, bytes] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never show keys or the passphrase
        return f"VendingKeyRing({self.store.dir}, {len(self._keys)} unsealed)"

    def available(self) -> list[VendingKeyId]:
        return list_vending_keys(self.store)

    def key(self, key_id: VendingKeyId) -> bytes:
        with self._lock:
            cached = self._keys.get(key_id)
            if cached is None:
                cached = self._keys[key_id] = load_vending_key(self.store, key_id, self._passphrase)
            return cached
