"""DKGA04 decoder keys: the published message and key, field validation, the PAN check digit."""
from __future__ import annotations

import hashlib
import hmac

import pytest

from vouchers.sts.dkga04 import MeterKeyParams, derive_decoder_key, hmac_output, parse_hex_key
from vouchers.sts.errors import InvalidField, InvalidKey, InvalidPan
from vouchers.sts.pan import MeterPan, luhn_check_digit
from vouchers.sts.tid import BaseDate

from .vectors import load, params, vending_key

WALK = load("ctsa01_step1_walkthrough.json")


def _reference_message(p: MeterKeyParams) -> bytes:
    """The DKGA04 message built field by field from the description in docs/sts.md §5."""
    def f(text: str) -> bytes:
        return bytes([len(text)]) + text.encode("ascii")

    label = b"\x04" + f("04") + f(p.base_date.code) + f("11") + f(f"{p.ti:02d}")
    context = b"\x04" + f(f"{p.sgc:06d}") + f(str(p.key_type)) + f(str(p.krn)) + f(p.pan.digits)
    return label + b"\x00" + context + (128).to_bytes(4, "big")


def test_message_matches_published_hex() -> None:
    assert params().dkga04_message().hex() == WALK["intermediates"]["dkga04_message"]


def test_hmac_and_decoder_key_match_published_values() -> None:
    out = hmac_output(vending_key(), params()).hex()
    assert out.startswith(WALK["intermediates"]["hmac_sha256_prefix"])
    assert out.endswith(WALK["intermediates"]["hmac_sha256_suffix"])
    assert derive_decoder_key(vending_key(), params()).hex() == WALK["intermediates"]["decoder_key"]


def test_decoder_key_is_first_half_of_plain_hmac_sha256() -> None:
    p = params({"krn": 7, "ti": 42, "sgc": 654321, "base_date": 2035})
    expected = hmac.new(vending_key(), _reference_message(p), hashlib.sha256).digest()[:16]
    assert derive_decoder_key(vending_key(), p) == expected


@pytest.mark.parametrize("overrides", [
    {"base_date": 2014}, {"base_date": 2035}, {"ti": 2}, {"ti": 99}, {"ti": 0}, {"sgc": 1}, {"sgc": 999999},
    {"krn": 9}, {"key_type": 0}, {"key_type": 3}, {"pan": "000001000000000082"},
])
def test_message_layout_for_other_parameters(overrides: dict[str, object]) -> None:
    p = params(overrides)
    assert p.dkga04_message() == _reference_message(p)


def test_every_parameter_changes_the_key() -> None:
    base = derive_decoder_key(vending_key(), params())
    for overrides in ({"ti": 2}, {"krn": 2}, {"sgc": 123461}, {"base_date": 2014}, {"key_type": 1},
                      {"pan": "000001000000000082"}):
        assert derive_decoder_key(vending_key(), params(overrides)) != base, overrides
    other_vk = bytes.fromhex("bbababababababab949494949494949401234567")
    assert derive_decoder_key(other_vk, params()) != base


@pytest.mark.parametrize("key", [bytes(16), bytes(19), bytes(21), bytes(32), b""])
def test_vending_key_must_be_20_bytes(key: bytes) -> None:
    with pytest.raises(InvalidKey):
        derive_decoder_key(key, params())


@pytest.mark.parametrize("field,value", [
    ("sgc", -1), ("sgc", 1_000_000), ("ti", 100), ("ti", -1), ("krn", 0), ("krn", 10), ("key_type", 4),
    ("ken", 256), ("ken", -1), ("ti", True), ("sgc", "123457"),
])
def test_out_of_range_fields_are_refused(field: str, value: object) -> None:
    with pytest.raises(InvalidField):
        params({field: value})


def test_params_need_typed_values() -> None:
    with pytest.raises(InvalidField):
        MeterKeyParams("600727000000000009", 123457, 1, 1, 2, BaseDate.Y1993)  # type: ignore[arg-type]
    with pytest.raises(InvalidField):
        MeterKeyParams(MeterPan("600727000000000009"), 123457, 1, 1, 2, 1993)  # type: ignore[arg-type]


def test_parse_hex_key() -> None:
    assert parse_hex_key("AB ab" + "00" * 18, 20, "vending key") == bytes.fromhex("abab" + "00" * 18)
    with pytest.raises(InvalidKey, match="not valid hex"):
        parse_hex_key("zz" * 20, 20, "vending key")
    with pytest.raises(InvalidKey, match="20 bytes"):
        parse_hex_key("ab" * 16, 20, "vending key")
    with pytest.raises(InvalidKey):
        parse_hex_key("abc", 20, "vending key")


# -- PAN ----------------------------------------------------------------------

@pytest.mark.parametrize("pan", ["600727000000000009", "000001000000000082"])
def test_published_pans_are_valid(pan: str) -> None:
    assert MeterPan(pan).digits == pan


def test_luhn_known_value() -> None:
    assert luhn_check_digit("7992739871") == 3  # the classic Luhn example


@pytest.mark.parametrize("pan", [
    "600727000000000008",   # wrong check digit
    "060727000000000009",   # adjacent swap (Luhn misses only 09<->90)
    "60072700000000009",    # 17 digits
    "6007270000000000099",  # 19 digits
    "60072700000000000a",
    "６００７２７０００００００００００９",  # full-width digits
])
def test_bad_pans_are_refused(pan: str) -> None:
    with pytest.raises(InvalidPan):
        MeterPan(pan)


def test_pan_parse_accepts_grouping() -> None:
    assert MeterPan.parse("6007 2700 0000-0000 09").digits == "600727000000000009"
