"""What makes a passphrase acceptable for a new key store (shared by the store, the split and the CLI)."""
from __future__ import annotations

from vouchers.keystore.errors import WeakPassphrase

ISSUER_VAR = "VOUCHER_KEY_PASSPHRASE"
WEB_VAR = "VOUCHER_WEB_PASSPHRASE"
# For new key stores only: a store keeps opening with the passphrase it was made with.
MIN_NEW_PASSPHRASE_CHARS = 12


def check_new_passphrase(passphrase: str, name: str = ISSUER_VAR) -> None:
    """Refuse a passphrase too short to seal a new key store (scrypt slows guessing, it cannot save "a")."""
    if len(passphrase.strip()) < MIN_NEW_PASSPHRASE_CHARS:
        raise WeakPassphrase(f"{name} is too short to create a key store: use at least "
                             f"{MIN_NEW_PASSPHRASE_CHARS} characters (a few random words)")


def check_distinct(passphrase: str, web_passphrase: str) -> None:
    """The two secrets must differ: with one passphrase the web could unseal the signing keys again."""
    if passphrase == web_passphrase:
        raise WeakPassphrase(f"{WEB_VAR} must differ from {ISSUER_VAR}: the web process must not be able "
                             "to unseal the signing keys")
