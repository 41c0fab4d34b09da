"""The on-disk key store: public ring in the clear, every secret sealed.

Two passphrases seal it, by trust: the issuer's ``VOUCHER_KEY_PASSPHRASE``
seals the signing keys, the card-store identity and the audit-checkpoint key;
the web's ``VOUCHER_WEB_PASSPHRASE`` seals the code-hash pepper and the vending
keys (purposes ``web:...``, see :mod:`vouchers.keystore.web_keys`). Signing keys are
unsealed only by :mod:`issuer.signing_keys`.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from vouchers.keystore.errors import KeyNotFound, KeyStoreError, KeyStoreMissing, NotSplit, PassphraseMissing
from vouchers.keystore.files import ensure_private_dir, exclusive_lock, write_private
from vouchers.keystore.rules import WEB_VAR, check_distinct, check_new_passphrase
from vouchers.keystore.sealing import WEB_PREFIX, seal, sealed_purpose, unseal
from vouchers.keyring import KeyRing, KeyStatus, PublicKey

PEPPER_PURPOSE = WEB_PREFIX + "code-hash-pepper"  # under the web secret
LEGACY_PEPPER_PURPOSE = "code-hash-pepper"  # a store made before the split: under the issuer passphrase
CARDSTORE_PURPOSE = "card-store-identity"
SPLIT_COMMAND = "voucherctl keys split-web-secret"


def signing_purpose(key_id: str) -> str:
    return f"signing-key:{key_id}"


@dataclass(frozen=True)
class KeyRecord:
    key_id: str
    public_bytes: bytes
    status: KeyStatus
    created_at: str
    changed_at: str | None = None

    def to_json(self) -> dict[str, str | None]:
        return {
            "key_id": self.key_id, "alg": "Ed25519",
            "public_key": base64.urlsafe_b64encode(self.public_bytes).rstrip(b"=").decode("ascii"),
            "status": self.status.value, "created_at": self.created_at, "changed_at": self.changed_at,
        }

    @classmethod
    def from_json(cls, item: dict) -> KeyRecord:
        raw = item["public_key"]
        return cls(item["key_id"], base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)), KeyStatus(item["status"]),
                   item["created_at"], item.get("changed_at"))

    def public(self) -> PublicKey:
        return PublicKey(self.key_id, self.public_bytes, self.status)


class KeyStore:
    """Files under ``<VOUCHER_HOME>/keys``; writers hold an exclusive lock."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        self.dir = self.home / "keys"

    # -- paths -------------------------------------------------------------
    @property
    def ring_path(self) -> Path:
        return self.dir / "keyring.json"

    @property
    def pepper_path(self) -> Path:
        return self.dir / "pepper.sealed"

    @property
    def cardstore_identity_path(self) -> Path:
        return self.dir / "cardstore-identity.sealed"

    @property
    def cardstore_recipient_path(self) -> Path:
        return self.dir / "cardstore-recipient.txt"

    def signing_path(self, key_id: str) -> Path:
        return self.dir / "signing" / f"{key_id}.sealed"

    def exists(self) -> bool:
        return self.pepper_path.exists() and self.ring_path.exists()

    def require(self) -> None:
        if not self.exists():
            self._refuse_if_incomplete()
            raise KeyStoreMissing(f"no key store in {self.dir}: run `voucherctl init` (check VOUCHER_HOME)")

    def _precious(self) -> list[str]:
        """Key material a new store must never replace: the pepper, any key file in a subfolder (signing,
        vending ...), a ring that lists keys. What a crashed first ``initialise`` leaves is not precious."""
        if not self.dir.is_dir():
            return []
        found = [str(p.relative_to(self.dir)) for p in sorted(self.dir.glob("*/*")) if p.is_file()]
        if self.pepper_path.exists():
            found.insert(0, self.pepper_path.name)
        try:
            if json.loads(self.ring_path.read_bytes()).get("keys"):
                found.insert(0, self.ring_path.name)
        except (OSError, ValueError, AttributeError):
            pass
        return found

    def _refuse_if_incomplete(self) -> None:
        precious = self._precious()
        if precious:
            missing = [p.name for p in (self.pepper_path, self.ring_path) if not p.exists()]
            raise KeyStoreError(
                f"the key store in {self.dir} is incomplete: {' and '.join(missing)} missing beside "
                f"{len(precious)} key file(s) ({', '.join(precious[:3])}{', ...' if len(precious) > 3 else ''}); "
                "restore the missing file(s) from a backup: a new store would orphan every issued card")

    def is_split(self) -> bool:
        """True if the pepper is sealed under the web secret (a store made or migrated since the split)."""
        self.require()
        return sealed_purpose(self.pepper_path.read_bytes()) != LEGACY_PEPPER_PURPOSE

    def require_split(self) -> None:
        """Refuse a store whose web material is still sealed under the issuer passphrase, naming the fix."""
        if not self.is_split():
            raise NotSplit(f"the key store in {self.dir} still seals the pepper and vending keys under "
                           f"VOUCHER_KEY_PASSPHRASE: run `{SPLIT_COMMAND}` once with VOUCHER_KEY_PASSPHRASE "
                           f"and the new {WEB_VAR} set (see docs/security.md)")

    # -- set-up ------------------------------------------------------------
    def initialise(self, passphrase: str, web_passphrase: str | None) -> bool:
        """Create the card-store identity (issuer) and the pepper (web) once; True if created now.

        A new store needs both passphrases, each long enough
        (:func:`vouchers.keystore.passphrase.check_new_passphrase`) and different. On an
        existing store the issuer passphrase is checked, and the web one too if
        given and the store is split.
        """
        if not self.exists():  # before any file is made
            self._refuse_if_incomplete()
            check_new_passphrase(passphrase)
            if web_passphrase is None:
                raise PassphraseMissing(f"{WEB_VAR} is not set: a new key store needs it (the web process's "
                                        "secret; it must differ from VOUCHER_KEY_PASSPHRASE)")
            check_new_passphrase(web_passphrase, WEB_VAR)
            check_distinct(passphrase, web_passphrase)
        ensure_private_dir(self.home)
        ensure_private_dir(self.dir)
        ensure_private_dir(self.dir / "signing")
        with exclusive_lock(self.dir):
            if self.exists():
                self.check_passphrase(passphrase)
                if web_passphrase is not None and self.is_split():
                    self.pepper(web_passphrase)
                return False
            self._refuse_if_incomplete()  # again, under the lock
            assert web_passphrase is not None  # checked above, before the lock
            from pyrage import x25519

            identity = x25519.Identity.generate()
            write_private(self.cardstore_identity_path, seal(str(identity).encode("ascii"), passphrase, CARDSTORE_PURPOSE))
            write_private(self.cardstore_recipient_path, str(identity.to_public()).encode("ascii") + b"\n")
            write_private(self.ring_path, json.dumps({"keys": []}, indent=1).encode("ascii"))
            # The pepper is written last: its presence is what makes the store exist.
            write_private(self.pepper_path, seal(secrets.token_bytes(32), web_passphrase, PEPPER_PURPOSE))
            return True

    # -- public ring -------------------------------------------------------
    def records(self) -> list[KeyRecord]:
        self.require()
        try:
            document = json.loads(self.ring_path.read_bytes())
            return [KeyRecord.from_json(item) for item in document["keys"]]
        except (ValueError, KeyError, TypeError) as e:
            raise KeyStoreError(f"key ring {self.ring_path} is corrupt") from e

    def keyring(self) -> KeyRing:
        return KeyRing(r.public() for r in self.records())

    def record(self, key_id: str) -> KeyRecord:
        for r in self.records():
            if r.key_id == key_id:
                return r
        raise KeyNotFound(f"no key with id {key_id!r}")

    def write_records(self, records: list[KeyRecord]) -> None:
        write_private(self.ring_path, json.dumps({"keys": [r.to_json() for r in records]}, indent=1).encode("ascii"))

    def lock(self):
        self.require()
        return exclusive_lock(self.dir)

    # -- secrets -----------------------------------------------------------
    def pepper(self, web_passphrase: str) -> bytes:
        """The code-hash pepper, unsealed with the web secret (a store not split yet is refused)."""
        self.require_split()
        return unseal(self.pepper_path.read_bytes(), web_passphrase, PEPPER_PURPOSE)

    def check_passphrase(self, passphrase: str) -> None:
        """Fail fast (WrongPassphrase) unless ``passphrase`` is this store's issuer passphrase."""
        self.cardstore_identity(passphrase)

    def cardstore_recipient(self) -> str:
        self.require()
        return self.cardstore_recipient_path.read_text("ascii").strip()

    def cardstore_identity(self, passphrase: str) -> str:
        self.require()
        return unseal(self.cardstore_identity_path.read_bytes(), passphrase, CARDSTORE_PURPOSE).decode("ascii")


def utc_stamp(now: dt.datetime) -> str:
    return now.astimezone(dt.timezone.utc).isoformat(timespec="seconds")
