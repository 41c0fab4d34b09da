"""EV1 tokens: frozen vectors, independent verification, tampering."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import base45
import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from vouchers.claims import VoucherClaims
from vouchers.errors import BadSignature, ExpiredToken, MalformedToken, RevokedKey, TokenError, UnknownKey
from vouchers.keyring import KeyRing, KeyStatus, PublicKey
from vouchers.token import b45encode, encode_token, read_unverified, verify_token

DOC = json.loads((Path(__file__).parents[2] / "vectors" / "vouchers" / "tokens.json").read_text())
KEY = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(DOC["private_key_hex"]))
PUBLIC = bytes.fromhex(DOC["public_key_hex"])
TODAY = dt.date(2026, 11, 26)


def ring(status: KeyStatus = KeyStatus.ACTIVE, key_id: str = "ev-test-1") -> KeyRing:
    return KeyRing([PublicKey(key_id, PUBLIC, status)])


def claims_of(row: dict) -> VoucherClaims:
    c = row["claims"]
    return VoucherClaims(c["serial"], c["batch_id"], c["face_value"], c["currency"],
                         dt.date.fromisoformat(c["expires"]), c["code"])


@pytest.mark.parametrize("row", DOC["vectors"], ids=lambda r: r["claims"]["serial"])
def test_frozen_vectors(row):
    assert encode_token(claims_of(row), row["key_id"], KEY) == row["token"]
    assert read_unverified(row["token"]) == (row["key_id"], claims_of(row))


@pytest.mark.parametrize("row", DOC["vectors"], ids=lambda r: r["claims"]["serial"])
def test_independent_verification_with_cbor2_and_cryptography(row):
    """Decode and verify per RFC 9052 without any project code."""
    text = row["token"]
    assert text.startswith("EV1:")
    tag = cbor2.loads(base45.b45decode(text[4:]))
    assert tag.tag == 18
    protected, unprotected, payload, signature = tag.value
    assert dict(unprotected) == {}
    header = cbor2.loads(protected)
    assert dict(header) == {1: -8, 4: row["key_id"].encode()}
    to_be_signed = cbor2.dumps(["Signature1", protected, b"", payload])
    Ed25519PublicKey.from_public_bytes(PUBLIC).verify(signature, to_be_signed)  # raises if wrong
    claims = cbor2.loads(payload)
    c = row["claims"]
    expected_days = (dt.date.fromisoformat(c["expires"]) - dt.date(1970, 1, 1)).days
    assert dict(claims) == {1: c["serial"], 2: c["batch_id"], 3: c["face_value"], 4: c["currency"],
                            5: expected_days, 6: c["code"]}


def test_verify_ok_and_expiry_inclusive():
    row = DOC["vectors"][0]
    claims = claims_of(row)
    assert verify_token(row["token"], ring(), TODAY) == claims
    assert verify_token(row["token"], ring(), claims.expires) == claims  # valid through that day
    with pytest.raises(ExpiredToken):
        verify_token(row["token"], ring(), claims.expires + dt.timedelta(days=1))


def test_retired_key_still_verifies_revoked_fails():
    token = DOC["vectors"][0]["token"]
    assert verify_token(token, ring(KeyStatus.RETIRED), TODAY)
    with pytest.raises(RevokedKey):
        verify_token(token, ring(KeyStatus.REVOKED), TODAY)
    with pytest.raises(UnknownKey):
        verify_token(token, ring(key_id="other"), TODAY)


def _rebuild(protected: bytes, payload: bytes, signature: bytes, unprotected=None, tag=18) -> str:
    cose = cbor2.dumps(cbor2.CBORTag(tag, [protected, unprotected or {}, payload, signature]))
    return "EV1:" + base45.b45encode(cose).decode()


def _parts(text: str):
    value = cbor2.loads(base45.b45decode(text[4:])).value
    return value[0], value[2], value[3]


@pytest.mark.parametrize("claim, value", [(1, "0100000100000024"), (2, "B01-000002"), (3, 1000000), (4, "USD"),
                                          (5, 30000), (6, "13643121583831274360")])
def test_any_changed_claim_is_refused(claim, value):
    protected, payload, signature = _parts(DOC["vectors"][0]["token"])
    claims = dict(cbor2.loads(payload))
    claims[claim] = value
    forged = _rebuild(protected, cbor2.dumps(claims, canonical=True), signature)
    with pytest.raises(BadSignature):
        verify_token(forged, ring(), TODAY)


def test_every_flipped_signature_byte_is_refused():
    protected, payload, signature = _parts(DOC["vectors"][0]["token"])
    for i in range(len(signature)):
        broken = bytearray(signature)
        broken[i] ^= 0x01
        with pytest.raises(BadSignature):
            verify_token(_rebuild(protected, payload, bytes(broken)), ring(), TODAY)


def test_swapped_signature_is_refused():
    p0, payload0, _ = _parts(DOC["vectors"][0]["token"])
    _, _, sig1 = _parts(DOC["vectors"][2]["token"])
    with pytest.raises(BadSignature):
        verify_token(_rebuild(p0, payload0, sig1), ring(), TODAY)


def test_kid_swap_is_refused():
    protected, payload, signature = _parts(DOC["vectors"][0]["token"])
    other = cbor2.dumps({1: -8, 4: b"ev-test-2"}, canonical=True)
    both = KeyRing([PublicKey("ev-test-1", PUBLIC, KeyStatus.ACTIVE),
                    PublicKey("ev-test-2", PUBLIC, KeyStatus.ACTIVE)])
    with pytest.raises(BadSignature):
        verify_token(_rebuild(other, payload, signature), both, TODAY)


@pytest.mark.parametrize("mutate", [
    lambda t: "EV2:" + t[4:],
    lambda t: t[4:],
    lambda t: t[:-7],
    lambda t: t[:40],
    lambda t: t + "A",
    lambda t: t.lower(),
    lambda t: "EV1:",
    lambda t: "EV1:" + "A" * 2000,
    lambda t: t.replace("EV1:", "EV1: "),
])
def test_malformed_envelopes(mutate):
    with pytest.raises(TokenError) as info:
        verify_token(mutate(DOC["vectors"][0]["token"]), ring(), TODAY)
    assert isinstance(info.value, (MalformedToken, BadSignature))


def test_structure_variants_refused():
    protected, payload, signature = _parts(DOC["vectors"][0]["token"])
    with pytest.raises(MalformedToken):
        verify_token(_rebuild(protected, payload, signature, tag=98), ring(), TODAY)
    with pytest.raises(MalformedToken):
        verify_token(_rebuild(protected, payload, signature, unprotected={4: b"x"}), ring(), TODAY)
    with pytest.raises(MalformedToken):
        verify_token(_rebuild(cbor2.dumps({1: -7, 4: b"ev-test-1"}), payload, signature), ring(), TODAY)
    signer_claims = dict(cbor2.loads(payload))
    del signer_claims[6]
    bad_payload = cbor2.dumps(signer_claims)
    sig = KEY.sign(cbor2.dumps(["Signature1", protected, b"", bad_payload]))
    with pytest.raises(MalformedToken):
        verify_token(_rebuild(protected, bad_payload, sig), ring(), TODAY)


@pytest.mark.parametrize("junk", [None, 5, b"EV1:", "EV1:%%%%"])
def test_non_text_and_junk(junk):
    with pytest.raises(TokenError):
        verify_token(junk, ring(), TODAY)  # type: ignore[arg-type]


def test_keyring_export_round_trip():
    document = ring().export()
    assert document == {"keys": [{"key_id": "ev-test-1", "alg": "Ed25519",
                                  "public_key": document["keys"][0]["public_key"], "status": "active"}]}
    assert KeyRing.from_export(document).get("ev-test-1").public_bytes == PUBLIC


@given(st.binary(max_size=400))
def test_fast_base45_matches_the_reference_package(data):
    assert b45encode(data) == base45.b45encode(data).decode("ascii")


def test_base45_rfc9285_examples():
    assert b45encode(b"AB") == "BB8"
    assert b45encode(b"Hello!!") == "%69 VD92EX0"
    assert b45encode(b"base-45") == "UJCLQE7W581"
    assert b45encode(b"") == ""


# -- mutation survivors (issue 26, docs/testing.md): claims that are signed but still not acceptable -----------

def _signed_with_claims(change: dict) -> str:
    """The first vector with some claims replaced (None: removed), signed again with the vector key."""
    protected, payload, _ = _parts(DOC["vectors"][0]["token"])
    claims = dict(cbor2.loads(payload))
    for key, value in change.items():
        if value is None:
            del claims[key]
        else:
            claims[key] = value
    new_payload = cbor2.dumps(claims, canonical=True)
    return _rebuild(protected, new_payload, KEY.sign(cbor2.dumps(["Signature1", protected, b"", new_payload])))


@pytest.mark.parametrize("change, message", [
    ({1: 100000100000024}, "claim types are wrong"),  # serial
    ({2: 2}, "claim types are wrong"),  # batch id
    ({4: 156}, "claim types are wrong"),  # currency
    ({6: 13643121583831274360}, "claim types are wrong"),  # code
    ({3: "1000000"}, "claim types are wrong"),  # face value
    ({3: True}, "claim types are wrong"),
    ({5: "30000"}, "claim types are wrong"),  # expiry
    ({5: True}, "claim types are wrong"),
    ({5: -1}, "expiry out of range"),
    ({5: 2_000_001}, "expiry out of range"),
    ({7: "extra"}, "claims map must have exactly the keys 1..6"),
    ({6: None}, "claims map must have exactly the keys 1..6"),
])
def test_signed_claims_of_the_wrong_shape_are_refused_saying_why(change, message):
    with pytest.raises(MalformedToken) as info:
        verify_token(_signed_with_claims(change), ring(), TODAY)
    assert str(info.value) == message


def test_the_last_expiry_day_number_is_accepted():
    claims = verify_token(_signed_with_claims({5: 2_000_000}), ring(), TODAY)
    assert claims.expires == dt.date(1970, 1, 1) + dt.timedelta(days=2_000_000)


def test_a_signed_payload_that_is_not_cbor_is_refused():
    protected, _, _ = _parts(DOC["vectors"][0]["token"])
    payload = b"\xff\xff"
    token = _rebuild(protected, payload, KEY.sign(cbor2.dumps(["Signature1", protected, b"", payload])))
    with pytest.raises(MalformedToken) as info:
        verify_token(token, ring(), TODAY)
    assert str(info.value) == "claims are not valid CBOR"


def test_unknown_and_revoked_keys_are_named():
    token = DOC["vectors"][0]["token"]
    with pytest.raises(UnknownKey) as unknown:
        verify_token(token, ring(key_id="ev-other"), TODAY)
    assert str(unknown.value) == "token signed by unknown key 'ev-test-1'"
    with pytest.raises(RevokedKey) as revoked:
        verify_token(token, ring(KeyStatus.REVOKED), TODAY)
    assert str(revoked.value) == "token signed by revoked key 'ev-test-1'"


def test_a_bad_signature_and_an_expired_token_say_so():
    protected, payload, signature = _parts(DOC["vectors"][0]["token"])
    flipped = bytes([signature[0] ^ 1]) + signature[1:]
    with pytest.raises(BadSignature) as bad:
        verify_token(_rebuild(protected, payload, flipped), ring(), TODAY)
    assert str(bad.value) == "token signature does not verify"
    expires = claims_of(DOC["vectors"][0]).expires
    with pytest.raises(ExpiredToken) as expired:
        verify_token(DOC["vectors"][0]["token"], ring(), expires + dt.timedelta(days=1))
    assert str(expired.value) == "voucher token has expired"


def test_signed_claims_that_are_not_a_valid_voucher_are_refused():
    with pytest.raises(MalformedToken) as info:
        verify_token(_signed_with_claims({4: "XXX"}), ring(), TODAY)
    assert str(info.value).startswith("claims are invalid: ")


def _cose(items) -> str:
    return "EV1:" + base45.b45encode(cbor2.dumps(cbor2.CBORTag(18, items))).decode()


def _structure_cases():
    protected, payload, signature = _parts(DOC["vectors"][0]["token"])
    return [
        ("EV2:" + DOC["vectors"][0]["token"][4:], "token must start with EV1:"),
        ("EV1:" + "A" * 1021, "token too long"),
        ("EV1:" + "0" * 1020, "token is not a tagged COSE_Sign1"),  # exactly the longest allowed: read on
        ("EV1:%%%%", "token is not valid Base45"),
        ("EV1:" + base45.b45encode(b"\xff\xff").decode(), "token is not valid CBOR"),
        (_rebuild(protected, payload, signature, tag=98), "token is not a tagged COSE_Sign1"),
        (_cose([protected, {}, payload]), "COSE_Sign1 must have four elements"),
        (_cose([protected, [], payload, signature]), "COSE_Sign1 element types are wrong"),
        (_cose([protected, {}, "payload", signature]), "COSE_Sign1 element types are wrong"),
    ]


@pytest.mark.parametrize("index", range(9))
def test_each_malformed_envelope_says_what_is_wrong(index):
    token, message = _structure_cases()[index]
    with pytest.raises(MalformedToken) as info:
        verify_token(token, ring(), TODAY)
    assert str(info.value) == message
