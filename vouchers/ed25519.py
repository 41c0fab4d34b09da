"""Ed25519 signing and verification through libsodium (pynacl).

Ed25519 (RFC 8032) is deterministic: the same key and message give the same
64 bytes whichever library computes them, so tokens signed here are
byte-identical to those signed before with ``cryptography`` (tested on the
frozen vectors). libsodium is simply faster from Python on this hot path
(signing in the batch workers, verifying on every redemption).

Nothing of pynacl's exception hierarchy leaves this module: key material of
the wrong shape is a :class:`ValueError`, a signature that does not verify is
``False`` from :func:`verify`.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

from nacl.bindings import crypto_sign, crypto_sign_seed_keypair
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

SEED_SIZE = 32
PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64


@runtime_checkable
class RawPrivateKey(Protocol):
    """What a ``cryptography`` Ed25519 private key offers: its 32-byte seed."""

    def private_bytes_raw(self) -> bytes: ...


PrivateKeyLike = bytes | SigningKey | RawPrivateKey


def seed_of(key: PrivateKeyLike) -> bytes:
    """The 32-byte seed (RFC 8032 private key) of a raw seed, a pynacl or a ``cryptography`` key."""
    if isinstance(key, SigningKey):
        seed = bytes(key)
    elif isinstance(key, bytes):
        seed = key
    elif isinstance(key, RawPrivateKey):
        seed = key.private_bytes_raw()
    else:
        raise TypeError("an Ed25519 private key must be 32 raw bytes, a nacl SigningKey or a cryptography key")
    if len(seed) != SEED_SIZE:
        raise ValueError(f"an Ed25519 private key is {SEED_SIZE} bytes")
    return seed


class Signer:
    """Signs with one Ed25519 key: ``signer.sign(message)`` is the 64-byte signature."""

    __slots__ = ("public_key", "_secret")

    def __init__(self, key: PrivateKeyLike) -> None:
        # libsodium's 64-byte secret key (seed + public key), derived once
        self.public_key, self._secret = crypto_sign_seed_keypair(seed_of(key))

    def sign(self, message: bytes) -> bytes:
        # crypto_sign returns signature + message; the slice copies the signature only
        return crypto_sign(message, self._secret)[:SIGNATURE_SIZE]

    def sign_many(self, messages: list[bytes]) -> list[bytes]:
        """``[self.sign(m) for m in messages]`` without the per-call attribute lookups."""
        sign, secret = crypto_sign, self._secret
        return [sign(message, secret)[:SIGNATURE_SIZE] for message in messages]


def verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """Whether ``signature`` is a valid Ed25519 signature of ``message`` under the raw ``public_key``.

    A key or signature of the wrong length or type verifies nothing (``False``).
    libsodium also refuses small-order and non-canonical keys and signatures,
    which an honest signer never produces.
    """
    if not (isinstance(public_key, bytes) and len(public_key) == PUBLIC_KEY_SIZE
            and isinstance(signature, bytes) and len(signature) == SIGNATURE_SIZE
            and isinstance(message, bytes)):
        return False
    try:
        VerifyKey(public_key).verify(message, signature)
    except BadSignatureError:
        return False
    return True
