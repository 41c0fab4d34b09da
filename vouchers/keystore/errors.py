from __future__ import annotations

from vouchers.errors import VoucherError


class KeyStoreError(VoucherError):
    code = "keystore_error"


class KeyStoreMissing(KeyStoreError):
    code = "keystore_missing"


class PassphraseMissing(KeyStoreError):
    code = "passphrase_missing"


class WeakPassphrase(KeyStoreError):
    code = "weak_passphrase"


class WrongPassphrase(KeyStoreError):
    code = "wrong_passphrase"


class KeyNotFound(KeyStoreError):
    code = "key_not_found"


class NoActiveKey(KeyStoreError):
    code = "no_active_key"


class KeyStateError(KeyStoreError):
    code = "key_state"


class NotSplit(KeyStoreError):
    """A store made before the web secret: its pepper and vending keys are still under the issuer passphrase."""

    code = "keystore_not_split"


class BackupError(KeyStoreError):
    """The key store's backup or restore cannot be made; the message says why and nothing was written."""

    code = "backup_error"
