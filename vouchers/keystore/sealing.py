"""Secrets at rest: scrypt-derived key + ChaCha20-Poly1305, bound to a purpose."""
from __future__ import annotations

import base64
import json
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from vouchers.keystore.errors import KeyStoreError, WrongPassphrase

FORMAT = "voucher-sealed-v1"
# scrypt cost: 2**15 * 8 * 128 B = 32 MiB and ~0.1 s per unseal (OWASP minimum is 2**17 for
# interactive logins; these blobs are offline-only, so we take 2**15 and a 32-byte salt).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _derive(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


def seal(plaintext: bytes, passphrase: str, purpose: str) -> bytes:
    """Encrypt ``plaintext``; ``purpose`` (e.g. ``"signing-key:k1"``) is authenticated."""
    salt, nonce = os.urandom(32), os.urandom(12)
    key = _derive(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    ciphertext = ChaCha20Poly1305(key).encrypt(nonce, plaintext, purpose.encode("utf-8"))
    document = {
        "format": FORMAT, "purpose": purpose, "kdf": {"name": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P,
                                                      "salt": _b64(salt)},
        "aead": "chacha20poly1305", "nonce": _b64(nonce), "ciphertext": _b64(ciphertext),
    }
    return json.dumps(document, indent=1).encode("ascii")


def unseal(blob: bytes, passphrase: str, purpose: str) -> bytes:
    """Decrypt a sealed blob; a wrong passphrase raises WrongPassphrase."""
    try:
        document = json.loads(blob)
        if document.get("format") != FORMAT or document.get("purpose") != purpose:
            raise KeyStoreError(f"sealed file is not a {purpose} secret")
        kdf = document["kdf"]
        key = _derive(passphrase, base64.b64decode(kdf["salt"]), int(kdf["n"]), int(kdf["r"]), int(kdf["p"]))
        nonce, ciphertext = base64.b64decode(document["nonce"]), base64.b64decode(document["ciphertext"])
    except (ValueError, KeyError, TypeError) as e:
        raise KeyStoreError(f"sealed {purpose} file is corrupt") from e
    try:
        return ChaCha20Poly1305(key).decrypt(nonce, ciphertext, purpose.encode("utf-8"))
    except InvalidTag as e:
        raise WrongPassphrase("wrong VOUCHER_KEY_PASSPHRASE: cannot unlock the key store") from e
