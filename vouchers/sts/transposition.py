"""Class-bit transposition and the 20-digit decimal form of a 66-bit token.

After encryption, ciphertext bits 28 and 27 move to token bits 65 and 64 and the
two class bits take their place (class MSB at bit 28, LSB at bit 27). The 66-bit
value is written in decimal, left-padded with zeros to 20 digits.
"""
from __future__ import annotations

from vouchers.sts.errors import InvalidField, InvalidTokenNumber

TOKEN_DIGITS = 20
TOKEN_BITS = 66
_MASK_27_28 = (1 << 28) | (1 << 27)
_MAX = (1 << TOKEN_BITS) - 1


def transpose_class(ciphertext: int, token_class: int) -> int:
    """The 66-bit token from a 64-bit ciphertext and the 2-bit class."""
    if not 0 <= ciphertext < 1 << 64:
        raise InvalidField("the ciphertext is a 64-bit value")
    if not 0 <= token_class <= 3:
        raise InvalidField("the token class is 0..3")
    moved = (ciphertext & _MASK_27_28) >> 27  # (c28, c27) as a 2-bit number
    return (moved << 64) | (ciphertext & ~_MASK_27_28) | (token_class << 27)


def untranspose(value66: int) -> tuple[int, int]:
    """Split a 66-bit token into (class, 64-bit ciphertext)."""
    if not 0 <= value66 <= _MAX:
        raise InvalidTokenNumber("a token is a 66-bit value")
    token_class = (value66 >> 27) & 0x3
    ciphertext = (value66 & ((1 << 64) - 1) & ~_MASK_27_28) | ((value66 >> 64) << 27)
    return token_class, ciphertext


def to_digits(value66: int) -> str:
    """The 20-digit decimal text of a 66-bit token."""
    if not 0 <= value66 <= _MAX:
        raise InvalidTokenNumber("a token is a 66-bit value")
    return f"{value66:020d}"


def parse_digits(text: str) -> int:
    """Read a 20-digit token (spaces and dashes between groups allowed) as an integer."""
    compact = "".join(str(text).replace("-", " ").split())
    if len(compact) != TOKEN_DIGITS or not compact.isascii() or not compact.isdigit():
        raise InvalidTokenNumber(f"a token is exactly {TOKEN_DIGITS} digits")
    value = int(compact)
    if value > _MAX:
        raise InvalidTokenNumber("the token number is larger than 66 bits allow")
    return value


def group_digits(digits: str) -> str:
    """``59386323472137426967`` -> ``5938 6323 4721 3742 6967`` for display."""
    return " ".join(digits[i:i + 4] for i in range(0, len(digits), 4))
