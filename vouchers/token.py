"""The EV1 signed voucher token: ``EV1:`` + Base45(tagged COSE_Sign1).

Layout fixed by CONTRACT.md: protected header ``{1: -8, 4: kid}``, empty
unprotected header, CBOR claims map with integer keys 1..6, Ed25519 over the
COSE ``Signature1`` structure. Any failure to verify raises a ``TokenError``
subclass; nothing else escapes :func:`verify_token`.
"""
from __future__ import annotations

import datetime as dt
import sys
from array import array
from collections.abc import Mapping

import base45
import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from vouchers.claims import VoucherClaims, day_number_to_date
from vouchers.errors import BadSignature, ExpiredToken, MalformedToken, RevokedKey, UnknownKey
from vouchers.keyring import KeyRing, KeyStatus

PREFIX = "EV1:"
COSE_SIGN1_TAG = 18
ALG_EDDSA = -8
_HDR_ALG, _HDR_KID = 1, 4
_CLAIM_KEYS = (1, 2, 3, 4, 5, 6)
MAX_TOKEN_LENGTH = 1024


_B45_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
# Every 16-bit value's three Base45 characters (RFC 9285 section 4): signing
# is on the hot path of batch generation, where the base45 package's
# per-byte loop cost as much as the Ed25519 signature itself.
_B45_PAIRS = tuple(
    _B45_ALPHABET[n % 45] + _B45_ALPHABET[(n // 45) % 45] + _B45_ALPHABET[n // 2025] for n in range(65536)
)


def b45encode(data: bytes) -> str:
    """RFC 9285 Base45 encoding (tested against the base45 package)."""
    even = len(data) & ~1
    pairs = array("H", data[:even])
    if sys.byteorder == "little":
        pairs.byteswap()
    text = "".join([_B45_PAIRS[n] for n in pairs])
    if even != len(data):
        last = data[-1]
        text += _B45_ALPHABET[last % 45] + _B45_ALPHABET[last // 45]
    return text


def _claims_payload(claims: VoucherClaims) -> bytes:
    return cbor2.dumps(
        {
            1: claims.serial,
            2: claims.batch_id,
            3: claims.face_value,
            4: claims.currency,
            5: claims.expiry_day_number,
            6: claims.code,
        },
        canonical=True,
    )


def protected_header(key_id: str) -> bytes:
    return cbor2.dumps({_HDR_ALG: ALG_EDDSA, _HDR_KID: key_id.encode("utf-8")}, canonical=True)


def _sig_structure(protected: bytes, payload: bytes) -> bytes:
    return cbor2.dumps(["Signature1", protected, b"", payload])


class TokenSigner:
    """Signs claims with one key; precomputes the protected header."""

    def __init__(self, key_id: str, private_key: Ed25519PrivateKey) -> None:
        self.key_id = key_id
        self._key = private_key
        self._protected = protected_header(key_id)

    def sign(self, claims: VoucherClaims) -> str:
        payload = _claims_payload(claims)
        signature = self._key.sign(_sig_structure(self._protected, payload))
        cose = cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [self._protected, {}, payload, signature]))
        return PREFIX + b45encode(cose)


def encode_token(claims: VoucherClaims, key_id: str, private_key: Ed25519PrivateKey) -> str:
    return TokenSigner(key_id, private_key).sign(claims)


def _decode_structure(text: str) -> tuple[str, bytes, bytes, bytes]:
    """Parse the envelope; returns (kid, protected, payload, signature)."""
    if not isinstance(text, str) or not text.startswith(PREFIX):
        raise MalformedToken("token must start with EV1:")
    if len(text) > MAX_TOKEN_LENGTH:
        raise MalformedToken("token too long")
    try:
        raw = base45.b45decode(text[len(PREFIX):])
    except Exception as e:  # the base45 library raises ValueError and others
        raise MalformedToken("token is not valid Base45") from e
    try:
        obj = cbor2.loads(raw)
    except Exception as e:  # cbor2 raises CBORDecodeError and assorted ValueErrors
        raise MalformedToken("token is not valid CBOR") from e
    if not isinstance(obj, cbor2.CBORTag) or obj.tag != COSE_SIGN1_TAG:
        raise MalformedToken("token is not a tagged COSE_Sign1")
    value = obj.value
    if not isinstance(value, (list, tuple)) or len(value) != 4:
        raise MalformedToken("COSE_Sign1 must have four elements")
    protected, unprotected, payload, signature = value
    if not all(isinstance(x, bytes) for x in (protected, payload, signature)) or not isinstance(unprotected, Mapping):
        raise MalformedToken("COSE_Sign1 element types are wrong")
    if unprotected:
        raise MalformedToken("unprotected header must be empty")
    try:
        header = cbor2.loads(protected)
    except Exception as e:
        raise MalformedToken("protected header is not valid CBOR") from e
    if not isinstance(header, Mapping) or header.get(_HDR_ALG) != ALG_EDDSA or set(header) != {_HDR_ALG, _HDR_KID}:
        raise MalformedToken("protected header must be {1: -8, 4: kid}")
    kid = header[_HDR_KID]
    if not isinstance(kid, bytes):
        raise MalformedToken("kid must be a byte string")
    try:
        key_id = kid.decode("utf-8")
    except UnicodeDecodeError as e:
        raise MalformedToken("kid is not UTF-8") from e
    return key_id, protected, payload, signature


def _decode_claims(payload: bytes) -> VoucherClaims:
    try:
        claims = cbor2.loads(payload)
    except Exception as e:
        raise MalformedToken("claims are not valid CBOR") from e
    if not isinstance(claims, Mapping) or tuple(sorted(claims, key=repr)) != tuple(sorted(_CLAIM_KEYS, key=repr)):
        raise MalformedToken("claims map must have exactly the keys 1..6")
    serial, batch_id, face, currency, expiry, code = (claims[k] for k in _CLAIM_KEYS)
    if not (isinstance(serial, str) and isinstance(batch_id, str) and isinstance(currency, str) and isinstance(code, str)):
        raise MalformedToken("claim types are wrong")
    if isinstance(face, bool) or not isinstance(face, int) or isinstance(expiry, bool) or not isinstance(expiry, int):
        raise MalformedToken("claim types are wrong")
    if expiry < 0 or expiry > 2_000_000:
        raise MalformedToken("expiry out of range")
    try:
        return VoucherClaims(serial, batch_id, face, currency, day_number_to_date(expiry), code)
    except ValueError as e:
        raise MalformedToken(f"claims are invalid: {e}") from e


def read_unverified(text: str) -> tuple[str, VoucherClaims]:
    """Key id and claims WITHOUT checking the signature (diagnostics only)."""
    key_id, _protected, payload, _sig = _decode_structure(text)
    return key_id, _decode_claims(payload)


def verify_token(text: str, keyring: KeyRing, today: dt.date) -> VoucherClaims:
    """Verify signature, key status and expiry; return the claims.

    ``today`` is the business-local date of the caller's ``now``. Raises a
    ``TokenError`` subclass and nothing else.
    """
    key_id, protected, payload, signature = _decode_structure(text)
    key = keyring.get(key_id)
    if key is None:
        raise UnknownKey(f"token signed by unknown key {key_id!r}")
    if key.status is KeyStatus.REVOKED:
        raise RevokedKey(f"token signed by revoked key {key_id!r}")
    try:
        key.verifier().verify(signature, _sig_structure(protected, payload))
    except (InvalidSignature, ValueError) as e:
        raise BadSignature("token signature does not verify") from e
    claims = _decode_claims(payload)
    if claims.is_expired(today):
        raise ExpiredToken("voucher token has expired")
    return claims
