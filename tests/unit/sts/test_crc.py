"""The STS CRC against the sts.org.za examples, the MODBUS check value and Nectar's value."""
from __future__ import annotations

import random

import pytest

from vouchers.sts.crc import crc16_modbus, sts_crc, sts_crc_bytes

from .vectors import load

CRC = load("crc.json")


def test_modbus_check_value() -> None:
    check = CRC["modbus_check"]
    assert crc16_modbus(check["ascii"].encode()) == int(check["crc16_modbus"], 16)


@pytest.mark.parametrize("example", CRC["byte_examples"], ids=lambda e: e["sts_crc"])
def test_sts_org_za_byte_examples(example: dict[str, str]) -> None:
    assert sts_crc_bytes(bytes.fromhex(example["bytes"])) == int(example["sts_crc"], 16)


def test_sts_org_za_0ffa_as_50_bit_value() -> None:
    # The 0FFA example is a 50-bit value left-padded to 7 bytes.
    assert sts_crc(int(CRC["byte_examples"][0]["bytes"], 16)) == 0x0FFA


def test_tid_page_example() -> None:
    e = CRC["value_examples"][0]
    value = (e["token_class"] << 48) | (e["subclass"] << 44) | (e["rnd"] << 40) | (e["tid"] << 16) \
        | int(e["amount_field"], 16)
    assert sts_crc(value) == int(e["sts_crc"], 16)


def test_nectar_crc_value() -> None:
    e = CRC["value_examples"][1]
    assert sts_crc(e["value50"]) == e["sts_crc_decimal"]


def test_unrolled_crc_equals_byte_crc() -> None:
    rng = random.Random(16)
    for value in [0, (1 << 50) - 1] + [rng.getrandbits(50) for _ in range(2000)]:
        assert sts_crc(value) == sts_crc_bytes(value.to_bytes(7, "big"))


def test_result_bytes_are_swapped() -> None:
    modbus = crc16_modbus(bytes.fromhex("00004a2d900ff2"))
    assert modbus == 0xFA0F
    assert sts_crc_bytes(bytes.fromhex("00004a2d900ff2")) == 0x0FFA


@pytest.mark.parametrize("value", [-1, 1 << 50])
def test_rejects_values_outside_50_bits(value: int) -> None:
    with pytest.raises(ValueError):
        sts_crc(value)


def test_class_bits_change_the_crc() -> None:
    body = (5 << 40) | (5871660 << 16) | 1
    assert sts_crc(body) == 0x2831
    assert sts_crc((2 << 48) | body) != 0x2831
