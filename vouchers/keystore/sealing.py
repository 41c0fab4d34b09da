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
# Purposes of what the web process may unseal start with this; they are sealed under VOUCHER_WEB_PASSPHRASE,
# everything else under the issuer's VOUCHER_KEY_PASSPHRASE (see keystore.web_keys).
WEB_PREFIX = "web:"


def secret_name(purpose: str) -> str:
    """The environment variable whose passphrase seals a secret of ``purpose`` (for error messages)."""
    return "VOUCHER_WEB_PASSPHRASE" if purpose.startswith(WEB_PREFIX) else "VOUCHER_KEY_PASSPHRASE"


def sealed_purpose(blob: bytes) -> str | None:
    """The purpose a sealed file declares, read without a passphrase (None if it is not a sealed file).

    Only a hint (the purpose is authenticated when unsealing): it tells an old store's pepper from a
    split one's without trying a passphrase.
    """
    try:
        document = json.loads(blob)
    except ValueError:
        return None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        return None
    purpose = document.get("purpose")
    return purpose if isinstance(purpose, str) else None


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
        raise WrongPassphrase(f"wrong {secret_name(purpose)}: cannot unlock the key store") from e
