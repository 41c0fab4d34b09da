"""The batch fast paths are byte-identical to the generic encoders (cbor2, base45, hmac, damm)."""
from __future__ import annotations

import datetime as dt
import hmac
import json
import secrets
from collections import Counter
from pathlib import Path

import base45
import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from vouchers import damm
from vouchers.claims import VoucherClaims
from vouchers.codes import CodeHasher, code_hash_normalized, damm_interim_of_int, generate_codes
from vouchers.token import BatchClaimsEncoder, TokenSigner, b45encode, b45encode_many, encode_token

DOC = json.loads((Path(__file__).parents[2] / "vectors" / "vouchers" / "tokens.json").read_text())
KEY = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(DOC["private_key_hex"]))


def _claims(c: dict) -> VoucherClaims:
    return VoucherClaims(c["serial"], c["batch_id"], c["face_value"], c["currency"],
                         dt.date.fromisoformat(c["expires"]), c["code"])


def _reference_payload(claims: VoucherClaims) -> bytes:
    """Written out here, independent of vouchers.token."""
    return cbor2.dumps({1: claims.serial, 2: claims.batch_id, 3: claims.face_value, 4: claims.currency,
                        5: (claims.expires - dt.date(1970, 1, 1)).days, 6: claims.code}, canonical=True)


@pytest.mark.parametrize("row", DOC["vectors"], ids=lambda r: r["claims"]["serial"])
def test_batch_signing_reproduces_the_frozen_vectors(row):
    claims = _claims(row["claims"])
    encoder = BatchClaimsEncoder(claims.batch_id, claims.face_value, claims.currency, claims.expires,
                                 serial_length=len(claims.serial))
    payload = encoder.payload(claims.serial.encode(), claims.code.encode())
    assert payload == _reference_payload(claims) and len(payload) == encoder.size
    assert TokenSigner(row["key_id"], KEY).sign_payloads([payload]) == [row["token"]]


@given(serial=st.text("0123456789", min_size=1, max_size=40),
       batch_id=st.text(min_size=0, max_size=300),
       face=st.one_of(st.sampled_from([1, 23, 24, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63 - 1]),
                      st.integers(min_value=1, max_value=2**64 - 1)),
       currency=st.sampled_from(["CNY", "USD", "EUR", "HKD"]),
       expires=st.dates(min_value=dt.date(1970, 1, 1), max_value=dt.date(9999, 12, 31)),
       code=st.text("0123456789", min_size=20, max_size=20))
def test_spliced_claims_equal_cbor2(serial, batch_id, face, currency, expires, code):
    claims = VoucherClaims(serial, batch_id, face, currency, expires, code)
    encoder = BatchClaimsEncoder(batch_id, face, currency, expires, serial_length=len(serial))
    assert encoder.payload(serial.encode(), code.encode()) == _reference_payload(claims)


def test_claims_encoder_refuses_wrong_lengths_and_bad_constants():
    encoder = BatchClaimsEncoder("B01-000001", 10000, "CNY", dt.date(2027, 12, 31), serial_length=16)
    for serial, code in ((b"0" * 15, b"1" * 20), (b"0" * 16, b"1" * 19)):
        with pytest.raises(ValueError) as info:
            encoder.payload(serial, code)
        assert str(info.value) == "serial or code has the wrong length for this encoder"
    with pytest.raises(ValueError):
        BatchClaimsEncoder("B01-000001", 0, "CNY", dt.date(2027, 12, 31), serial_length=16)


@pytest.mark.parametrize("size", [0, 1, 22, 23, 24, 66, 255, 256, 257, 1000])
def test_spliced_envelope_equals_cbor2_for_every_payload_size(size):
    signer = TokenSigner("ev-test-1", KEY)
    payloads = [secrets.token_bytes(size) for _ in range(3)]
    protected = cbor2.dumps({1: -8, 4: b"ev-test-1"}, canonical=True)
    expected = []
    for payload in payloads:
        signature = KEY.sign(cbor2.dumps(["Signature1", protected, b"", payload]))
        cose = cbor2.dumps(cbor2.CBORTag(18, [protected, {}, payload, signature]))
        expected.append("EV1:" + base45.b45encode(cose).decode())
    assert signer.sign_payloads(payloads) == expected


def test_batch_signing_equals_per_claims_signing_for_a_run_of_cards():
    encoder = BatchClaimsEncoder("B07-004242", 5000, "CNY", dt.date(2028, 6, 30), serial_length=16)
    cards = [(f"{i:016d}", f"{secrets.randbelow(10**20):020d}") for i in range(1, 200)]
    payloads = [encoder.payload(s.encode(), c.encode()) for s, c in cards]
    expected = [encode_token(VoucherClaims(s, "B07-004242", 5000, "CNY", dt.date(2028, 6, 30), c), "kid", KEY)
                for s, c in cards]
    assert TokenSigner("kid", KEY).sign_payloads(payloads) == expected


def test_base45_of_every_16_bit_value():
    data = b"".join(n.to_bytes(2, "big") for n in range(65536))
    assert b45encode(data) == base45.b45encode(data).decode("ascii")


@given(st.lists(st.binary(max_size=70), max_size=20))
def test_base45_many_of_mixed_lengths(blobs):
    assert b45encode_many(blobs) == [base45.b45encode(b).decode("ascii") for b in blobs]


@pytest.mark.parametrize("size", [2, 160, 161, 165])  # 165: odd, a multiple of 3 (mutation run)
def test_base45_many_of_one_length_across_blocks(size):
    blobs = [secrets.token_bytes(size) for _ in range(900)]  # 900 * 80 pairs > one 32,768-pair block
    assert b45encode_many(blobs) == [base45.b45encode(b).decode("ascii") for b in blobs]


@given(st.integers(min_value=0, max_value=10**20 - 1))
def test_four_digit_damm_equals_the_reference(value):
    assert str(damm_interim_of_int(value)) == damm.check_digit(f"{value:020d}")


def test_batch_codes_are_valid_unique_and_use_every_digit():
    codes = generate_codes(20_000)
    assert len(codes) == 20_000 and len(set(codes)) == 20_000
    assert all(len(c) == 20 and c.isascii() and c.isdigit() and damm.is_valid(c) for c in codes)
    for position in (0, 9, 18):  # a uniform body: every digit in every position
        counts = Counter(c[position] for c in codes)
        assert set(counts) == set("0123456789") and min(counts.values()) > 1500
    assert generate_codes(0) == [] and len(generate_codes(1)) == 1


@pytest.mark.parametrize("pepper_size", [0, 1, 32, 64, 65, 200])
def test_code_hasher_is_hmac_sha256(pepper_size):
    pepper = secrets.token_bytes(pepper_size)
    hasher = CodeHasher(pepper)
    for code in generate_codes(50):
        expected = hmac.new(pepper, code.encode(), "sha256").digest()
        assert hasher(code.encode()) == expected == code_hash_normalized(pepper, code)
