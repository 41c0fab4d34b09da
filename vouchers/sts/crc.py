"""The STS token CRC-16 (IEC 62055-41): CRC-16/MODBUS with the result bytes swapped.

Polynomial x^16 + x^15 + x^2 + 1, computed reflected (constant 0xA001), initial
value 0xFFFF, no final XOR. STS feeds it the 50-bit value
``class|subclass|...|data`` left-padded to 7 bytes big-endian and stores the two
result bytes swapped.
"""
from __future__ import annotations


def _build_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _build_table()

CRC_INPUT_BITS = 50


def crc16_modbus(data: bytes) -> int:
    """CRC-16/MODBUS of ``data`` (check value for b"123456789" is 0x4B37)."""
    table = _TABLE
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc


def _swap(crc: int) -> int:
    return ((crc & 0xFF) << 8) | (crc >> 8)


def sts_crc_bytes(data: bytes) -> int:
    """The STS CRC of a byte string: MODBUS CRC with its two bytes swapped."""
    return _swap(crc16_modbus(data))


def sts_crc(value50: int) -> int:
    """The STS CRC of the 50-bit token value (class, subclass and the 44 data bits).

    Same result as ``sts_crc_bytes(value50.to_bytes(7, "big"))``, unrolled for speed.
    """
    if not 0 <= value50 < 1 << CRC_INPUT_BITS:
        raise ValueError("the CRC input is a 50-bit unsigned value")
    t = _TABLE
    crc = (0xFFFF >> 8) ^ t[(0xFF ^ (value50 >> 48)) & 0xFF]
    crc = (crc >> 8) ^ t[(crc ^ (value50 >> 40)) & 0xFF]
    crc = (crc >> 8) ^ t[(crc ^ (value50 >> 32)) & 0xFF]
    crc = (crc >> 8) ^ t[(crc ^ (value50 >> 24)) & 0xFF]
    crc = (crc >> 8) ^ t[(crc ^ (value50 >> 16)) & 0xFF]
    crc = (crc >> 8) ^ t[(crc ^ (value50 >> 8)) & 0xFF]
    crc = (crc >> 8) ^ t[(crc ^ value50) & 0xFF]
    return ((crc & 0xFF) << 8) | (crc >> 8)
