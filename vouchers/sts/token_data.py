"""Token fields before encryption: the 66-bit logical token and its 64-bit block.

Logical token (bit 65 = most significant)::

    class(2) | subclass(4) | body(44) | crc(16)

The CRC covers the 50 bits ``class|subclass|body``. The block that is encrypted is
the same without the two class bits: ``subclass<<60 | body<<16 | crc``.

Bodies used here:

* TID tokens (class 0, and class 2 subclasses 0, 1, 2, 5, 6, 7)::

      rnd(4) | tid(24) | data(16)

  ``data`` is the amount (class 0), the maximum power limit, the register to
  clear, or a 16-bit pad, depending on the subclass.
* Key change tokens (class 2 subclasses 3, 4, 8, 9), see :class:`KeyChangeSection`.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

from vouchers.sts.crc import sts_crc
from vouchers.sts.errors import InvalidField

BODY_BITS = 44
BODY_MASK = (1 << BODY_BITS) - 1


class TokenClass(enum.IntEnum):
    """The 2-bit token class."""

    CREDIT = 0
    NON_METER_SPECIFIC = 1
    MANAGEMENT = 2
    RESERVED = 3


class CreditSubclass(enum.IntEnum):
    """Class 0 subclasses implemented here (4..7 are currency tokens: not implemented)."""

    ELECTRICITY = 0
    WATER = 1
    GAS = 2
    TIME = 3


class ManagementSubclass(enum.IntEnum):
    """Class 2 subclasses (IEC 62055-41)."""

    SET_MAXIMUM_POWER_LIMIT = 0
    CLEAR_CREDIT = 1
    SET_TARIFF_RATE = 2
    SET_1ST_SECTION_DECODER_KEY = 3
    SET_2ND_SECTION_DECODER_KEY = 4
    CLEAR_TAMPER_CONDITION = 5
    SET_MAXIMUM_PHASE_POWER_UNBALANCE_LIMIT = 6
    SET_WATER_METER_FACTOR = 7
    SET_3RD_SECTION_DECODER_KEY = 8
    SET_4TH_SECTION_DECODER_KEY = 9


KEY_CHANGE_SUBCLASSES = frozenset({3, 4, 8, 9})
TID_MANAGEMENT_SUBCLASSES = frozenset({0, 1, 2, 5, 6, 7})
REGISTER_ALL = 0xFFFF  # clear-credit register value used by the compliance tests


def _check(name: str, value: int, bits: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << bits:
        raise InvalidField(f"{name} must be an integer 0..{(1 << bits) - 1}")
    return value


def pack_tid_body(rnd: int, tid: int, data: int) -> int:
    """``rnd<<40 | tid<<16 | data`` after range checks (the vending hot path)."""
    if type(rnd) is not int or not 0 <= rnd <= 0xF:
        raise InvalidField("RND must be an integer 0..15")
    if type(tid) is not int or not 0 <= tid <= 0xFFFFFF:
        raise InvalidField("the TID must be an integer 0..16777215")
    if type(data) is not int or not 0 <= data <= 0xFFFF:
        raise InvalidField("the data field must be an integer 0..65535")
    return (rnd << 40) | (tid << 16) | data


@dataclass(frozen=True, slots=True)
class TokenBlock:
    """Class, subclass and the 44 data bits of one token, before the CRC is added."""

    token_class: int
    subclass: int
    body: int

    def __post_init__(self) -> None:
        _check("the token class", self.token_class, 2)
        _check("the subclass", self.subclass, 4)
        _check("the token body", self.body, BODY_BITS)

    @property
    def crc_input(self) -> int:
        """The 50-bit value the CRC is computed over (includes the class bits)."""
        return (self.token_class << 48) | (self.subclass << 44) | self.body

    @property
    def crc(self) -> int:
        return sts_crc(self.crc_input)

    def plaintext(self) -> int:
        """The 64-bit block to encrypt: subclass, body and CRC."""
        return (self.subclass << 60) | (self.body << 16) | self.crc

    @classmethod
    def from_plaintext(cls, token_class: int, block: int) -> tuple[TokenBlock, int]:
        """Split a decrypted 64-bit block; returns the block and the CRC stored in it."""
        return cls(token_class, block >> 60, (block >> 16) & BODY_MASK), block & 0xFFFF


@dataclass(frozen=True, slots=True)
class TidBody:
    """RND, TID and the 16-bit data field of a TID token."""

    rnd: int
    tid: int
    data: int

    def __post_init__(self) -> None:
        _check("RND", self.rnd, 4)
        _check("the TID", self.tid, 24)
        _check("the data field", self.data, 16)

    def pack(self) -> int:
        return (self.rnd << 40) | (self.tid << 16) | self.data

    @classmethod
    def unpack(cls, body: int) -> TidBody:
        return cls((body >> 40) & 0xF, (body >> 16) & 0xFFFFFF, body & 0xFFFF)


@dataclass(frozen=True, slots=True)
class KeyChangeSection:
    """The fields of one key change token (class 2, subclass 3, 4, 8 or 9).

    Layouts of the 44 body bits (most significant first):

    * 1st section (3): KENHO(4) KRN(4) RO(1) Res(1) KT(2) NKHO(32)
    * 2nd section (4): KENLO(4) TI(8) NKLO(32)
    * 3rd section (8): SGCLO(12) NKMO2(32)
    * 4th section (9): SGCHO(12) NKMO1(32)

    ``header`` is the 12 bits before the key bits; ``key_bits`` the 32 key bits.
    The new 128-bit key is NKHO|NKMO2|NKMO1|NKLO and the SGC is SGCHO|SGCLO (24 bits).
    """

    subclass: int
    header: int
    key_bits: int

    def __post_init__(self) -> None:
        if self.subclass not in KEY_CHANGE_SUBCLASSES:
            raise InvalidField("a key change section has subclass 3, 4, 8 or 9")
        _check("the key change header", self.header, 12)
        _check("the key bits", self.key_bits, 32)

    def pack(self) -> int:
        return (self.header << 32) | self.key_bits

    @classmethod
    def unpack(cls, subclass: int, body: int) -> KeyChangeSection:
        return cls(subclass, body >> 32, body & 0xFFFFFFFF)

    def fields(self) -> dict[str, int]:
        """The named fields of this section."""
        h = self.header
        if self.subclass == ManagementSubclass.SET_1ST_SECTION_DECODER_KEY:
            return {"kenho": h >> 8, "krn": (h >> 4) & 0xF, "rollover": (h >> 3) & 1,
                    "reserved": (h >> 2) & 1, "key_type": h & 0x3, "nkho": self.key_bits}
        if self.subclass == ManagementSubclass.SET_2ND_SECTION_DECODER_KEY:
            return {"kenlo": h >> 8, "ti": h & 0xFF, "nklo": self.key_bits}
        if self.subclass == ManagementSubclass.SET_3RD_SECTION_DECODER_KEY:
            return {"sgclo": h, "nkmo2": self.key_bits}
        return {"sgcho": h, "nkmo1": self.key_bits}
