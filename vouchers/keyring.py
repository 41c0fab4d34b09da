"""Public verification keys with their status, as the key store exports them."""
from __future__ import annotations

import base64
import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from vouchers import ed25519


class KeyStatus(str, enum.Enum):
    ACTIVE = "active"  # signs new batches
    RETIRED = "retired"  # no longer signs; its tokens still verify
    REVOKED = "revoked"  # its tokens fail


@dataclass(frozen=True, slots=True)
class PublicKey:
    key_id: str
    public_bytes: bytes  # raw 32-byte Ed25519 public key
    status: KeyStatus

    @property
    def public_key_b64url(self) -> str:
        return base64.urlsafe_b64encode(self.public_bytes).rstrip(b"=").decode("ascii")

    def as_export(self) -> dict[str, str]:
        return {"key_id": self.key_id, "alg": "Ed25519", "public_key": self.public_key_b64url, "status": self.status.value}

    def verify(self, signature: bytes, message: bytes) -> bool:
        """Whether ``signature`` is this key's Ed25519 signature of ``message`` (libsodium)."""
        return ed25519.verify(self.public_bytes, signature, message)


class KeyRing:
    """An immutable set of public keys indexed by key id."""

    def __init__(self, keys: Iterable[PublicKey]) -> None:
        self._keys = {k.key_id: k for k in keys}

    def get(self, key_id: str) -> PublicKey | None:
        return self._keys.get(key_id)

    def __iter__(self) -> Iterator[PublicKey]:
        return iter(self._keys.values())

    def __len__(self) -> int:
        return len(self._keys)

    def export(self) -> dict[str, list[dict[str, str]]]:
        """The ``keys export-public`` / ``GET /api/v1/keys`` document."""
        return {"keys": [k.as_export() for k in self]}

    @classmethod
    def from_export(cls, document: dict) -> KeyRing:
        keys = []
        for item in document.get("keys", []):
            raw = base64.urlsafe_b64decode(item["public_key"] + "=" * (-len(item["public_key"]) % 4))
            keys.append(PublicKey(item["key_id"], raw, KeyStatus(item["status"])))
        return cls(keys)
