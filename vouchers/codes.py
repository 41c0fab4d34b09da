"""Secret codes (PINs): 19 random digits plus a Damm check digit."""
from __future__ import annotations

import hashlib
import hmac
import secrets

from vouchers import damm
from vouchers.errors import InvalidCode

CODE_LENGTH = 20
_RANDOM_DIGITS = CODE_LENGTH - 1
_SEPARATORS = str.maketrans("", "", " -\t")


def generate_code() -> str:
    """A fresh code from ``secrets``: about 63 bits of entropy."""
    body = f"{secrets.randbelow(10**_RANDOM_DIGITS):0{_RANDOM_DIGITS}d}"
    return body + damm.check_digit(body)


def normalize_code(typed: str) -> str:
    """Strip spaces and dashes and validate length and check digit.

    Raises InvalidCode for anything that cannot be a code, so typos are
    rejected before any lookup (and cost no attempt budget). The message never
    repeats the input.
    """
    if not isinstance(typed, str):
        raise InvalidCode("code must be text")
    compact = typed.translate(_SEPARATORS)
    if not (compact.isascii() and compact.isdigit()):
        raise InvalidCode("code must contain only the digits 0-9 (spaces and dashes allowed)")
    if len(compact) != CODE_LENGTH:
        raise InvalidCode(f"code must have {CODE_LENGTH} digits")
    if not damm.is_valid(compact):
        raise InvalidCode("code check digit does not match: please re-type the code")
    return compact


def group_code(code: str) -> str:
    """``"1234567890..." -> "1234 5678 ..."`` for printing."""
    return " ".join(code[i : i + 4] for i in range(0, len(code), 4))


def code_hash(pepper: bytes, code: str) -> bytes:
    """HMAC-SHA256(pepper, normalised code): the only form a code is stored in."""
    return hmac.new(pepper, normalize_code(code).encode("ascii"), hashlib.sha256).digest()


def code_hash_normalized(pepper: bytes, compact: str) -> bytes:
    """As :func:`code_hash` for a code already normalised (hot generation loop)."""
    return hmac.new(pepper, compact.encode("ascii"), hashlib.sha256).digest()
