"""The on-disk key store: public ring in the clear, every secret sealed."""
from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from vouchers.keystore.errors import KeyNotFound, KeyStoreError, KeyStoreMissing
from vouchers.keystore.files import ensure_private_dir, exclusive_lock, write_private
from vouchers.keystore.passphrase import check_new_passphrase
from vouchers.keystore.sealing import seal, unseal
from vouchers.keyring import KeyRing, KeyStatus, PublicKey

PEPPER_PURPOSE = "code-hash-pepper"
CARDSTORE_PURPOSE = "card-store-identity"


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

    # -- set-up ------------------------------------------------------------
    def initialise(self, passphrase: str) -> bool:
        """Create the pepper and card-store identity once; True if created now.

        On an existing store the passphrase is checked against the pepper; a new
        store refuses a short one (:func:`vouchers.keystore.passphrase.check_new_passphrase`).
        """
        if not self.exists():  # before any file is made
            self._refuse_if_incomplete()
            check_new_passphrase(passphrase)
        ensure_private_dir(self.home)
        ensure_private_dir(self.dir)
        ensure_private_dir(self.dir / "signing")
        with exclusive_lock(self.dir):
            if self.exists():
                self.pepper(passphrase)
                return False
            self._refuse_if_incomplete()  # again, under the lock
            from pyrage import x25519

            identity = x25519.Identity.generate()
            write_private(self.cardstore_identity_path, seal(str(identity).encode("ascii"), passphrase, CARDSTORE_PURPOSE))
            write_private(self.cardstore_recipient_path, str(identity.to_public()).encode("ascii") + b"\n")
            write_private(self.ring_path, json.dumps({"keys": []}, indent=1).encode("ascii"))
            write_private(self.pepper_path, seal(secrets.token_bytes(32), passphrase, PEPPER_PURPOSE))
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
    def pepper(self, passphrase: str) -> bytes:
        self.require()
        return unseal(self.pepper_path.read_bytes(), passphrase, PEPPER_PURPOSE)

    def cardstore_recipient(self) -> str:
        self.require()
        return self.cardstore_recipient_path.read_text("ascii").strip()

    def cardstore_identity(self, passphrase: str) -> str:
        self.require()
        return unseal(self.cardstore_identity_path.read_bytes(), passphrase, CARDSTORE_PURPOSE).decode("ascii")

    def store_signing_key(self, key_id: str, private_raw: bytes, passphrase: str) -> None:
        write_private(self.signing_path(key_id), seal(private_raw, passphrase, signing_purpose(key_id)))

    def signing_key_raw(self, key_id: str, passphrase: str) -> bytes:
        path = self.signing_path(key_id)
        if not path.exists():
            raise KeyNotFound(f"private key of {key_id!r} is missing from the key store")
        return unseal(path.read_bytes(), passphrase, signing_purpose(key_id))


def utc_stamp(now: dt.datetime) -> str:
    return now.astimezone(dt.timezone.utc).isoformat(timespec="seconds")
