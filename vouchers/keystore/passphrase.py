"""Where the key-store passphrase comes from."""
from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Protocol

from vouchers.keystore.errors import PassphraseMissing, WeakPassphrase
from vouchers.keystore.files import ensure_private_dir, write_private

log = logging.getLogger(__name__)
DEMO_FILE = "DEMO-ONLY-passphrase.txt"
# For new key stores only: a store keeps opening with the passphrase it was made with.
MIN_NEW_PASSPHRASE_CHARS = 12


def check_new_passphrase(passphrase: str) -> None:
    """Refuse a passphrase too short to seal a new key store (scrypt slows guessing, it cannot save "a")."""
    if len(passphrase.strip()) < MIN_NEW_PASSPHRASE_CHARS:
        raise WeakPassphrase(f"VOUCHER_KEY_PASSPHRASE is too short to create a key store: use at least "
                             f"{MIN_NEW_PASSPHRASE_CHARS} characters (a few random words)")


class PassphraseSettings(Protocol):
    """What the passphrase rules read of the settings (the edge's ``vouchers.config.Settings`` has it)."""

    @property
    def home(self) -> Path: ...
    @property
    def passphrase(self) -> str | None: ...
    @property
    def demo(self) -> bool: ...


def resolve_passphrase(settings: PassphraseSettings) -> str:
    """VOUCHER_KEY_PASSPHRASE, or in explicit demo mode a generated one kept in VOUCHER_HOME.

    The demo passphrase sits next to the keys it protects, so demo mode gives no
    protection at rest; it exists only for the quick start.
    """
    if settings.passphrase:
        return settings.passphrase
    if not settings.demo:
        raise PassphraseMissing("VOUCHER_KEY_PASSPHRASE is not set (set it, or VOUCHER_DEMO=1 for a throw-away demo)")
    path = Path(settings.home) / DEMO_FILE
    if path.exists():
        return path.read_text("utf-8").strip()
    from vouchers.keystore.store import KeyStore  # (the store imports this module)

    if KeyStore(Path(settings.home)).exists():  # a real store: a generated passphrase could never open it
        raise PassphraseMissing(f"VOUCHER_KEY_PASSPHRASE is not set, and demo mode cannot open the key store in "
                                f"{settings.home} (it was not made in demo mode)")
    ensure_private_dir(Path(settings.home))
    generated = secrets.token_urlsafe(24)
    write_private(path, (generated + "\n").encode("utf-8"))
    log.warning("DEMO MODE: generated a key-store passphrase in %s; never use demo mode in production", path)
    return generated
