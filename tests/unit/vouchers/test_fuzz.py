"""Parsers never raise anything but their own narrow error, whatever the input."""
from __future__ import annotations

import datetime as dt

import base45
import cbor2
from hypothesis import given, settings
from hypothesis import strategies as st

from vouchers.codes import normalize_code
from vouchers.errors import InvalidCode, InvalidMoney, InvalidSerial, TokenError
from vouchers.keyring import KeyRing
from vouchers.money import parse_amount
from vouchers.serials import Serial, parse_batch_id
from vouchers.token import verify_token

RING = KeyRing([])
TODAY = dt.date(2026, 11, 26)

cbor_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**64), max_value=2**64) | st.text(max_size=30)
    | st.binary(max_size=40) | st.floats(allow_nan=True),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(
        st.integers(min_value=-10, max_value=10) | st.text(max_size=5), children, max_size=6),
    max_leaves=20,
)


@given(st.text(max_size=60))
def test_code_parser(text):
    try:
        assert len(normalize_code(text)) == 20
    except InvalidCode:
        pass


@given(st.text(max_size=300))
def test_token_parser_on_text(text):
    for candidate in (text, "EV1:" + text):
        try:
            verify_token(candidate, RING, TODAY)
        except TokenError:
            pass


@settings(max_examples=300)
@given(cbor_values, cbor_values, st.integers(min_value=0, max_value=300))
def test_token_parser_on_cbor_structures(header, payload, tag):
    for body in ([cbor2.dumps(header), {}, cbor2.dumps(payload), b"s" * 64], header, payload):
        try:
            encoded = cbor2.dumps(cbor2.CBORTag(tag, body))
        except Exception:
            continue
        try:
            verify_token("EV1:" + base45.b45encode(encoded).decode(), RING, TODAY)
        except TokenError:
            pass


@given(st.text(max_size=30))
def test_amount_parser(text):
    try:
        assert parse_amount(text) >= 0
    except InvalidMoney:
        pass


@given(st.text(max_size=30))
def test_serial_and_batch_id_parsers(text):
    for parse in (Serial.parse, parse_batch_id):
        try:
            parse(text)
        except InvalidSerial:
            pass


_KEY = __import__("cryptography.hazmat.primitives.asymmetric.ed25519", fromlist=["x"]).Ed25519PrivateKey.from_private_bytes(bytes(32))


near_valid_claims = st.fixed_dictionaries({
    1: st.text(max_size=20), 2: st.text(max_size=12), 3: st.integers(min_value=-(2**70), max_value=2**70),
    4: st.sampled_from(["CNY", "USD", "XXX", "", "cny"]), 5: st.integers(min_value=-(2**40), max_value=2**40),
    6: st.text(alphabet="0123456789a", max_size=22),
})


@settings(max_examples=400)
@given(cbor_values | near_valid_claims)
def test_claims_decoder_behind_a_valid_signature(claims):
    """Correctly signed but arbitrary claims reach the claims decoder: still only TokenError."""
    from cryptography.hazmat.primitives import serialization

    from vouchers.keyring import KeyStatus, PublicKey
    from vouchers.token import protected_header

    public = _KEY.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    ring = KeyRing([PublicKey("k", public, KeyStatus.ACTIVE)])
    protected = protected_header("k")
    try:
        payload = cbor2.dumps(claims)
    except Exception:
        return
    signature = _KEY.sign(cbor2.dumps(["Signature1", protected, b"", payload]))
    token = "EV1:" + base45.b45encode(cbor2.dumps(cbor2.CBORTag(18, [protected, {}, payload, signature]))).decode()
    try:
        verify_token(token, ring, TODAY)
    except TokenError:
        pass
