"""Migrate a key store made before the web secret: re-seal the web's material under VOUCHER_WEB_PASSPHRASE.

Before the split, one passphrase sealed everything, so the web process (which
needs the pepper and the vending keys) could also unseal the signing keys.
:func:`split_web_secret` re-seals the pepper and the vending keys under the web
secret (purposes ``web:...``); signing keys, the card-store identity and the
audit-checkpoint key stay under the issuer passphrase, untouched.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from vouchers.keystore.errors import KeyStoreError
from vouchers.keystore.files import replace_private_all
from vouchers.keystore.rules import WEB_VAR, check_distinct, check_new_passphrase
from vouchers.keystore.sealing import seal, sealed_purpose, unseal
from vouchers.keystore.store import LEGACY_PEPPER_PURPOSE, PEPPER_PURPOSE, KeyStore
from vouchers.keystore.vending_keys import list_vending_keys, vending_dir

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SplitResult:
    already_split: bool
    resealed: list[str] = field(default_factory=list)  # paths relative to keys/, pepper last


def split_web_secret(store: KeyStore, passphrase: str, web_passphrase: str) -> SplitResult:
    """Re-seal the pepper and vending keys under ``web_passphrase``; idempotent.

    Needs the issuer ``passphrase`` (checked first, against the card-store
    identity) to open the old files. Everything is unsealed and re-sealed in
    memory and written to temporary files before any file is replaced; the
    pepper, whose purpose marks the store as split, is renamed last, so an
    interrupted run leaves a store that still says "not split" and a second
    run completes it. On a split store it only checks ``web_passphrase``.
    """
    store.require()
    check_distinct(passphrase, web_passphrase)
    with store.lock():
        store.check_passphrase(passphrase)
        already = store.is_split()
        if already:
            store.pepper(web_passphrase)  # the right web secret, or WrongPassphrase
        else:
            check_new_passphrase(web_passphrase, WEB_VAR)
        items: list[tuple[Path, bytes]] = []
        for key_id in list_vending_keys(store):
            path = vending_dir(store) / key_id.file_name
            blob = path.read_bytes()
            found = sealed_purpose(blob)
            if found == key_id.purpose:  # re-sealed by an interrupted run: check it opens with the web secret
                unseal(blob, web_passphrase, key_id.purpose)
            elif found == key_id.legacy_purpose:
                items.append((path, seal(unseal(blob, passphrase, key_id.legacy_purpose), web_passphrase,
                                         key_id.purpose)))
            else:
                raise KeyStoreError(f"{path.name} is not a sealed vending key (purpose {found!r})")
        if not already:
            pepper = unseal(store.pepper_path.read_bytes(), passphrase, LEGACY_PEPPER_PURPOSE)
            items.append((store.pepper_path, seal(pepper, web_passphrase, PEPPER_PURPOSE)))
        if items:
            replace_private_all(items)
            log.warning("re-sealed %d key-store file(s) under VOUCHER_WEB_PASSPHRASE", len(items))
        return SplitResult(already, [str(path.relative_to(store.dir)) for path, _ in items])
