"""Class-bit transposition and the 20-digit form."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vouchers.sts.errors import InvalidTokenNumber
from vouchers.sts.transposition import group_digits, parse_digits, to_digits, transpose_class, untranspose

from .vectors import load

WALK = load("ctsa01_step1_walkthrough.json")


def test_published_transposition() -> None:
    ciphertext = int(WALK["intermediates"]["ciphertext_block"], 16)
    value = transpose_class(ciphertext, 0)
    assert value == int(WALK["intermediates"]["token_66bit"], 16)
    assert to_digits(value) == WALK["token"]


def test_class_bits_land_in_27_and_28() -> None:
    # ciphertext with bits 28, 27 = 1, 0 -> token bits 65, 64 = 1, 0; class 2 -> bits 28, 27 = 1, 0
    assert transpose_class(1 << 28, 0) == 1 << 65
    assert transpose_class(1 << 27, 0) == 1 << 64
    assert transpose_class(0, 2) == 1 << 28
    assert transpose_class(0, 1) == 1 << 27
    assert transpose_class(0, 3) == (1 << 28) | (1 << 27)


@given(st.integers(min_value=0, max_value=(1 << 64) - 1), st.integers(min_value=0, max_value=3))
def test_round_trip(ciphertext: int, token_class: int) -> None:
    value = transpose_class(ciphertext, token_class)
    assert value < 1 << 66
    assert untranspose(value) == (token_class, ciphertext)
    assert parse_digits(to_digits(value)) == value


def test_digits_are_zero_padded_to_20() -> None:
    assert to_digits(5) == "00000000000000000005"
    assert to_digits((1 << 66) - 1) == "73786976294838206463"


@pytest.mark.parametrize("text", [
    "7378697629483820646",      # 19 digits
    "737869762948382064630",    # 21 digits
    "73786976294838206464",     # 2**66, one too many
    "9999 9999 9999 9999 9999",
    "5938632347213742696x",
    "",
])
def test_bad_token_numbers(text: str) -> None:
    with pytest.raises(InvalidTokenNumber):
        parse_digits(text)


def test_grouping() -> None:
    assert group_digits("59386323472137426967") == "5938 6323 4721 3742 6967"
    assert parse_digits("5938-6323-4721-3742-6967") == 59386323472137426967
