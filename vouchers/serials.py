"""Public serial numbers: issuer, batch number, sequence and a Damm check digit.

Layout (16 digits): ``II BBBBBB SSSSSSS C``. A serial is derived only from
public counters, so it reveals nothing about the secret code.
"""
from __future__ import annotations

from dataclasses import dataclass

from vouchers import damm
from vouchers.errors import InvalidSerial

ISSUER_DIGITS = 2
BATCH_DIGITS = 6
SEQUENCE_DIGITS = 7
SERIAL_LENGTH = ISSUER_DIGITS + BATCH_DIGITS + SEQUENCE_DIGITS + 1
MAX_SEQUENCE = 10**SEQUENCE_DIGITS - 1
MAX_BATCH_NUMBER = 10**BATCH_DIGITS - 1


@dataclass(frozen=True, slots=True, order=True)
class Serial:
    issuer: int
    batch_number: int
    sequence: int

    def __post_init__(self) -> None:
        if not 0 <= self.issuer < 10**ISSUER_DIGITS:
            raise InvalidSerial("issuer code out of range")
        if not 1 <= self.batch_number <= MAX_BATCH_NUMBER:
            raise InvalidSerial("batch number out of range")
        if not 1 <= self.sequence <= MAX_SEQUENCE:
            raise InvalidSerial("sequence out of range")

    def __str__(self) -> str:
        body = f"{self.issuer:0{ISSUER_DIGITS}d}{self.batch_number:0{BATCH_DIGITS}d}{self.sequence:0{SEQUENCE_DIGITS}d}"
        return body + damm.check_digit(body)

    @classmethod
    def parse(cls, text: str) -> Serial:
        compact = text.replace(" ", "").replace("-", "") if isinstance(text, str) else ""
        if len(compact) != SERIAL_LENGTH or not damm.is_valid(compact):
            raise InvalidSerial(f"not a valid {SERIAL_LENGTH}-digit serial with check digit")
        i, b = ISSUER_DIGITS, ISSUER_DIGITS + BATCH_DIGITS
        return cls(int(compact[:i]), int(compact[i:b]), int(compact[b:-1]))


def batch_id_for(issuer: int, batch_number: int) -> str:
    """The public batch id, e.g. ``"B01-000042"``."""
    return f"B{issuer:0{ISSUER_DIGITS}d}-{batch_number:0{BATCH_DIGITS}d}"


def parse_batch_id(text: str) -> tuple[int, int]:
    try:
        prefix, number = text.split("-")
        if prefix[0] != "B" or len(prefix) != 1 + ISSUER_DIGITS or len(number) != BATCH_DIGITS:
            raise ValueError
        return int(prefix[1:]), int(number)
    except (ValueError, IndexError, AttributeError) as e:
        raise InvalidSerial(f"not a batch id: {text!r} (expected e.g. B01-000042)") from e


def range_last(first_serial: str, count: int) -> str:
    """The last serial of ``count`` cards starting at ``first_serial`` (first serial + count instead of two
    serials with check digits); raises :class:`InvalidSerial` for a bad serial or count."""
    first = Serial.parse(first_serial)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise InvalidSerial("the count must be a whole number of at least 1")
    if first.sequence + count - 1 > MAX_SEQUENCE:
        raise InvalidSerial(f"{count} cards from {first_serial} run past the last possible serial")
    return str(Serial(first.issuer, first.batch_number, first.sequence + count - 1))
