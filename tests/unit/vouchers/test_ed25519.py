"""libsodium (pynacl) signs and verifies exactly as cryptography did: the frozen tokens stay byte-identical."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import base45
import cbor2
import nacl.signing
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from vouchers import ed25519
from vouchers.claims import VoucherClaims
from vouchers.errors import BadSignature
from vouchers.keyring import KeyRing, KeyStatus, PublicKey
from vouchers.token import TokenSigner, encode_token, verify_token

DOC = json.loads((Path(__file__).parents[2] / "vectors" / "vouchers" / "tokens.json").read_text())
SEED = bytes.fromhex(DOC["private_key_hex"])
PUBLIC = bytes.fromhex(DOC["public_key_hex"])


def _signed_parts(token: str) -> tuple[bytes, bytes]:
    """(COSE Sig_structure, signature) of a frozen token, decoded without project code."""
    protected, _unprotected, payload, signature = cbor2.loads(base45.b45decode(token[4:])).value
    return cbor2.dumps(["Signature1", protected, b"", payload]), signature


@pytest.mark.parametrize("row", DOC["vectors"], ids=lambda r: r["claims"]["serial"])
def test_vector_messages_sign_identically_with_cryptography_and_pynacl(row):
    message, frozen_signature = _signed_parts(row["token"])
    by_cryptography = Ed25519PrivateKey.from_private_bytes(SEED).sign(message)
    by_pynacl = nacl.signing.SigningKey(SEED).sign(message).signature
    by_project = ed25519.Signer(SEED).sign(message)
    assert by_cryptography == by_pynacl == by_project == frozen_signature


@pytest.mark.parametrize("row", DOC["vectors"], ids=lambda r: r["claims"]["serial"])
def test_vector_signatures_verify_with_both_libraries(row):
    message, signature = _signed_parts(row["token"])
    Ed25519PublicKey.from_public_bytes(PUBLIC).verify(signature, message)  # raises if wrong
    nacl.signing.VerifyKey(PUBLIC).verify(message, signature)  # raises if wrong
    assert ed25519.verify(PUBLIC, signature, message)


def test_every_key_form_gives_the_same_tokens():
    row = DOC["vectors"][0]
    message, _ = _signed_parts(row["token"])
    forms = (SEED, nacl.signing.SigningKey(SEED), Ed25519PrivateKey.from_private_bytes(SEED))
    assert {ed25519.Signer(form).sign(message) for form in forms} == {_signed_parts(row["token"])[1]}
    assert ed25519.Signer(SEED).public_key == PUBLIC
    assert ed25519.Signer(SEED).sign_many([message, message]) == [ed25519.Signer(SEED).sign(message)] * 2


@pytest.mark.parametrize("bad", [b"", b"\x00" * 31, b"\x00" * 33, "0" * 32, 12345])
def test_private_key_of_the_wrong_shape_is_a_plain_error(bad):
    with pytest.raises((TypeError, ValueError)) as info:
        ed25519.Signer(bad)
    assert type(info.value).__module__ == "builtins"  # not pynacl's own exception classes


@settings(max_examples=60, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32), message=st.binary(max_size=300))
def test_random_keys_and_messages_sign_identically(seed, message):
    signature = Ed25519PrivateKey.from_private_bytes(seed).sign(message)
    signer = ed25519.Signer(seed)
    assert signer.sign(message) == signature
    assert ed25519.verify(signer.public_key, signature, message)


def test_verify_rejects_without_raising():
    row = DOC["vectors"][0]
    message, signature = _signed_parts(row["token"])
    flipped = bytes([signature[0] ^ 1]) + signature[1:]
    other = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    assert not ed25519.verify(PUBLIC, flipped, message)
    assert not ed25519.verify(PUBLIC, signature, message + b"x")
    assert not ed25519.verify(other, signature, message)
    # shapes that a careless caller of libsodium could turn into an overread or a shifted message
    assert not ed25519.verify(PUBLIC, signature[:63], message)
    assert not ed25519.verify(PUBLIC, signature + b"\x00", message)
    assert not ed25519.verify(PUBLIC[:31], signature, message)
    assert not ed25519.verify(PUBLIC, "not bytes", message)  # type: ignore[arg-type]


def test_a_forged_token_is_the_domain_error_not_nacls():
    row = DOC["vectors"][0]
    forged = encode_token(_claims(row), row["key_id"], Ed25519PrivateKey.generate())
    ring = KeyRing([PublicKey(row["key_id"], PUBLIC, KeyStatus.ACTIVE)])
    with pytest.raises(BadSignature) as info:
        verify_token(forged, ring, _claims(row).expires)
    assert info.value.__cause__ is None  # nothing of nacl's chained onto it


def test_a_key_store_key_of_the_wrong_length_is_a_bad_signature():
    row = DOC["vectors"][0]
    ring = KeyRing([PublicKey(row["key_id"], PUBLIC[:31], KeyStatus.ACTIVE)])
    with pytest.raises(BadSignature):
        verify_token(row["token"], ring, _claims(row).expires)


def test_batch_signing_matches_the_frozen_tokens_with_a_pynacl_key():
    signer = TokenSigner(DOC["vectors"][0]["key_id"], nacl.signing.SigningKey(SEED))
    for row in DOC["vectors"]:
        if row["key_id"] == signer.key_id:
            assert signer.sign(_claims(row)) == row["token"]


def _claims(row: dict) -> VoucherClaims:
    c = row["claims"]
    return VoucherClaims(c["serial"], c["batch_id"], c["face_value"], c["currency"],
                         dt.date.fromisoformat(c["expires"]), c["code"])
