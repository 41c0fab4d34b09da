"""What the web process may hold: the public key ring, the code-hash pepper and the vending keys.

:class:`WebKeys` is the web's only handle on the key store. It is built with
the web secret (``VOUCHER_WEB_PASSPHRASE``) alone and has no way to reach a
signing key, the card-store identity or the audit-checkpoint key: those are
sealed under the issuer's passphrase, which the web process is never given,
and the code that unseals signing keys lives in ``issuer`` (which
``redeem_api`` must not import; tests/unit/test_architecture.py).
"""
from __future__ import annotations

from pathlib import Path

from vouchers.keystore.store import KeyStore
from vouchers.keystore.vending_keys import VendingKeyRing
from vouchers.keyring import KeyRing


class WebKeys:
    """The web's narrow view of a key store under ``home``: pepper, vending keys, public ring."""

    def __init__(self, home: Path, web_passphrase: str) -> None:
        self._store = KeyStore(home)
        self._passphrase = web_passphrase

    @classmethod
    def open(cls, home: Path, web_passphrase: str) -> WebKeys:
        """The handle after the start-up checks: a store exists and is split (else one clear error)."""
        keys = cls(home, web_passphrase)
        keys._store.require()
        keys._store.require_split()
        return keys

    def __repr__(self) -> str:  # never the secret
        return f"WebKeys({self._store.dir})"

    @property
    def ring_path(self) -> Path:
        return self._store.ring_path

    def keyring(self) -> KeyRing:
        """The public key ring (verification only)."""
        return self._store.keyring()

    def pepper(self) -> bytes:
        """The code-hash pepper; a wrong web secret raises WrongPassphrase naming VOUCHER_WEB_PASSPHRASE."""
        return self._store.pepper(self._passphrase)

    def vending_keys(self) -> VendingKeyRing:
        """The STS vending keys, unsealed on first use."""
        return VendingKeyRing(self._store, self._passphrase)
