"""Where the key-store passphrases come from: the issuer's and the web's.

``VOUCHER_KEY_PASSPHRASE`` (the issuer's) seals the signing keys, the card-store
identity and the audit-checkpoint key; ``VOUCHER_WEB_PASSPHRASE`` seals what the
web process needs (the code-hash pepper, the STS vending keys). A process is
given only the secrets it needs, so the web process cannot sign.
"""
from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Protocol

from vouchers.keystore.errors import PassphraseMissing
from vouchers.keystore.files import ensure_private_dir, write_private
from vouchers.keystore.rules import ISSUER_VAR, WEB_VAR
from vouchers.keystore.store import KeyStore

log = logging.getLogger(__name__)
DEMO_FILE = "DEMO-ONLY-passphrase.txt"
DEMO_WEB_FILE = "DEMO-ONLY-web-passphrase.txt"

class PassphraseSettings(Protocol):
    """What the passphrase rules read of the settings (the edge's ``vouchers.config.Settings`` has it)."""

    @property
    def home(self) -> Path: ...
    @property
    def passphrase(self) -> str | None: ...
    @property
    def demo(self) -> bool: ...
    @property
    def web_passphrase(self) -> str | None: ...


def resolve_passphrase(settings: PassphraseSettings) -> str:
    """The issuer's VOUCHER_KEY_PASSPHRASE, or in explicit demo mode a generated one kept in VOUCHER_HOME.

    The demo passphrase sits next to the keys it protects, so demo mode gives no
    protection at rest; it exists only for the quick start.
    """
    if settings.passphrase:
        return settings.passphrase
    if not settings.demo:
        hint = (f" ({WEB_VAR} alone cannot sign or seal issuer keys)" if settings.web_passphrase else "")
        raise PassphraseMissing(f"{ISSUER_VAR} is not set: this command needs the issuer passphrase{hint}; "
                                "set it, or VOUCHER_DEMO=1 for a throw-away demo")
    return _demo_passphrase(settings, DEMO_FILE, ISSUER_VAR)


def resolve_web_passphrase(settings: PassphraseSettings) -> str:
    """The web process's VOUCHER_WEB_PASSPHRASE, or in explicit demo mode a generated one kept in VOUCHER_HOME."""
    if settings.web_passphrase:
        return settings.web_passphrase
    if not settings.demo:
        raise PassphraseMissing(f"{WEB_VAR} is not set: this needs the web secret (code-hash pepper, vending "
                                "keys); set it, or VOUCHER_DEMO=1 for a throw-away demo")
    return _demo_passphrase(settings, DEMO_WEB_FILE, WEB_VAR)


def _demo_passphrase(settings: PassphraseSettings, file_name: str, name: str) -> str:
    path = Path(settings.home) / file_name
    if path.exists():
        return path.read_text("utf-8").strip()
    # A real store: a generated passphrase could never open it. A demo store made before the web secret
    # existed (only DEMO_FILE) may get a web passphrase: `voucherctl keys split-web-secret` then uses it.
    store = KeyStore(Path(settings.home))
    if store.exists() and not (file_name == DEMO_WEB_FILE and (Path(settings.home) / DEMO_FILE).exists()
                               and not store.is_split()):
        raise PassphraseMissing(f"{name} is not set, and demo mode cannot open the key store in "
                                f"{settings.home} (it was not made in demo mode)")
    ensure_private_dir(Path(settings.home))
    generated = secrets.token_urlsafe(24)
    write_private(path, (generated + "\n").encode("utf-8"))
    log.warning("DEMO MODE: generated a key-store passphrase (%s) in %s; never use demo mode in production",
                name, path)
    return generated
