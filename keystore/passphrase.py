"""Where the key-store passphrase comes from."""
from __future__ import annotations

import logging
import secrets
from pathlib import Path

from keystore.errors import PassphraseMissing
from keystore.files import ensure_private_dir, write_private
from vouchers.settings import Settings

log = logging.getLogger(__name__)
DEMO_FILE = "DEMO-ONLY-passphrase.txt"


def resolve_passphrase(settings: Settings) -> str:
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
    ensure_private_dir(Path(settings.home))
    generated = secrets.token_urlsafe(24)
    write_private(path, (generated + "\n").encode("utf-8"))
    log.warning("DEMO MODE: generated a key-store passphrase in %s; never use demo mode in production", path)
    return generated
