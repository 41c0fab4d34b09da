"""MISTY1 against RFC 2994, plus properties of the S-boxes and the table-driven FI."""
from __future__ import annotations

import random

import pytest

from vouchers.sts.errors import InvalidKey
from vouchers.sts.misty1 import S7, S9, Misty1, _fi, fi_reference

from .vectors import load

RFC = load("misty1_rfc2994.json")


def test_extended_key_matches_rfc() -> None:
    assert Misty1(bytes.fromhex(RFC["key"])).extended_key.hex() == RFC["extended_key"]


@pytest.mark.parametrize("pair", RFC["blocks"], ids=lambda p: p["plaintext"])
def test_encrypt_matches_rfc(pair: dict[str, str]) -> None:
    cipher = Misty1(bytes.fromhex(RFC["key"]))
    assert cipher.encrypt(bytes.fromhex(pair["plaintext"])).hex() == pair["ciphertext"]


@pytest.mark.parametrize("pair", RFC["blocks"], ids=lambda p: p["ciphertext"])
def test_decrypt_matches_rfc(pair: dict[str, str]) -> None:
    cipher = Misty1(bytes.fromhex(RFC["key"]))
    assert cipher.decrypt(bytes.fromhex(pair["ciphertext"])).hex() == pair["plaintext"]


def test_integer_and_byte_interfaces_agree() -> None:
    cipher = Misty1(bytes.fromhex(RFC["key"]))
    block = int(RFC["blocks"][0]["plaintext"], 16)
    assert cipher.encrypt_block(block) == int(RFC["blocks"][0]["ciphertext"], 16)


def test_s_boxes_are_permutations() -> None:
    assert sorted(S7) == list(range(128))
    assert sorted(S9) == list(range(512))


def _differential_uniformity(sbox: tuple[int, ...]) -> int:
    size = len(sbox)
    worst = 0
    for a in range(1, size):
        counts = [0] * size
        for x in range(size):
            counts[sbox[x] ^ sbox[x ^ a]] += 1
        worst = max(worst, max(counts))
    return worst


@pytest.mark.parametrize("sbox", [S7, S9], ids=["S7", "S9"])
def test_s_boxes_are_almost_perfect_nonlinear(sbox: tuple[int, ...]) -> None:
    # MISTY1's S-boxes are APN (differential uniformity 2); a single mistyped table
    # entry breaks this, which the two RFC vectors alone might not notice.
    assert _differential_uniformity(sbox) == 2


def test_s7_is_the_power_function_x81_over_gf2_7() -> None:
    # S7 is affine-equivalent to x^81 in GF(2^7) mod x^7 + x^3 + 1: an independent
    # derivation of all 128 entries.
    def mul(a: int, b: int) -> int:
        r = 0
        while b:
            if b & 1:
                r ^= a
            b >>= 1
            a <<= 1
            if a & 0x80:
                a ^= 0x89
        return r

    def power(x: int, e: int) -> int:
        r = 1
        while e:
            if e & 1:
                r = mul(r, x)
            x = mul(x, x)
            e >>= 1
        return r

    def linear(y: int) -> int:
        out = 0
        for bit, image in enumerate((0x29, 0x62, 0x14, 0x5A, 0x4C, 0x6C, 0x70)):
            if y >> bit & 1:
                out ^= image
        return out

    assert [linear(power(x, 81) if x else 0) ^ 0x1B for x in range(128)] == list(S7)


def test_table_fi_equals_rfc_fi() -> None:
    rng = random.Random(2994)
    for _ in range(20_000):
        x, k = rng.getrandbits(16), rng.getrandbits(16)
        assert _fi(x, k) == fi_reference(x, k)
    for x in (0, 0xFFFF, 0x7F, 0xFF80):
        for k in (0, 0xFFFF, 0x01FF, 0xFE00):
            assert _fi(x, k) == fi_reference(x, k)


def test_round_trip_random_keys_and_blocks() -> None:
    rng = random.Random(7)
    for _ in range(200):
        cipher = Misty1(rng.randbytes(16))
        block = rng.getrandbits(64)
        encrypted = cipher.encrypt_block(block)
        assert encrypted != block
        assert cipher.decrypt_block(encrypted) == block


def test_one_key_bit_changes_the_ciphertext() -> None:
    key = bytearray(bytes.fromhex(RFC["key"]))
    key[15] ^= 1
    assert Misty1(bytes(key)).encrypt(bytes.fromhex("0123456789abcdef")).hex() != "8b1da5f56ab3d07c"


@pytest.mark.parametrize("key", [b"", bytes(15), bytes(17), "00" * 16])
def test_rejects_wrong_key(key: object) -> None:
    with pytest.raises(InvalidKey):
        Misty1(key)  # type: ignore[arg-type]


def test_rejects_wrong_block_length() -> None:
    with pytest.raises(ValueError):
        Misty1(bytes(16)).encrypt(bytes(7))
