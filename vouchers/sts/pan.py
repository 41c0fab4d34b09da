"""Meter primary account number (PAN): 18 digits, IIN + DRN + a Luhn check digit."""
from __future__ import annotations

from dataclasses import dataclass

from vouchers.sts.errors import InvalidPan

PAN_DIGITS = 18


def luhn_check_digit(payload: str) -> int:
    """The Luhn (mod 10) check digit for a string of decimal digits."""
    if not payload.isascii() or not payload.isdigit():
        raise InvalidPan("a Luhn payload is decimal digits only")
    total = 0
    # The rightmost payload digit is doubled (it sits next to the check digit).
    for position, char in enumerate(reversed(payload)):
        digit = ord(char) - 48
        if position % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return (10 - total % 10) % 10


@dataclass(frozen=True, slots=True)
class MeterPan:
    """A validated 18-digit meter PAN, e.g. ``600727000000000009``."""

    digits: str

    def __post_init__(self) -> None:
        d = self.digits
        if not isinstance(d, str) or len(d) != PAN_DIGITS or not d.isascii() or not d.isdigit():
            raise InvalidPan(f"a meter PAN is exactly {PAN_DIGITS} decimal digits")
        if luhn_check_digit(d[:-1]) != ord(d[-1]) - 48:
            raise InvalidPan("the meter PAN fails its Luhn check digit")

    @classmethod
    def parse(cls, text: str) -> MeterPan:
        """Accept a PAN typed with spaces or dashes between digit groups."""
        return cls("".join(text.replace("-", " ").split()))

    def __str__(self) -> str:
        return self.digits
