"""Secret codes (PINs): 19 random digits plus a Damm check digit."""
from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from array import array

from vouchers import damm
from vouchers.errors import InvalidCode

CODE_LENGTH = 20
_RANDOM_DIGITS = CODE_LENGTH - 1
_RANDOM_RANGE = 10**_RANDOM_DIGITS
_SEPARATORS = str.maketrans("", "", " -\t")
_DIGITS = "0123456789"


@functools.cache
def damm_table4() -> bytes:
    """The Damm interim after four more digits: ``table[interim * 10000 + n]`` for ``n`` in 0..9999.

    The same quasigroup as :mod:`vouchers.damm`, four digits per lookup
    (built once per process; 100,000 one-byte entries, small enough to stay
    in the CPU cache): the code and serial check digits are on the hot path
    of batch generation.
    """
    step = damm._TABLE
    two = [step[step[state][hi]][lo] for state in range(10) for hi in range(10) for lo in range(10)]
    return bytes(two[two[state * 100 + hi] * 100 + lo] for state in range(10) for hi in range(100) for lo in range(100))


def damm_interim_of_int(value: int, interim: int = 0) -> int:
    """The Damm interim after the 20 decimal digits of ``0 <= value < 10**20`` (zero-padded)."""
    table = damm_table4()
    a, value = divmod(value, 10**16)
    b, value = divmod(value, 10**12)
    c, value = divmod(value, 10**8)
    d, e = divmod(value, 10**4)
    interim = table[interim * 10000 + a]
    interim = table[interim * 10000 + b]
    interim = table[interim * 10000 + c]
    interim = table[interim * 10000 + d]
    return table[interim * 10000 + e]


def generate_code() -> str:
    """A fresh code from ``secrets``: about 63 bits of entropy.

    19 uniformly random digits plus their Damm check digit (computed from the
    integer: a leading zero leaves the interim 0 unchanged, so the 20-digit
    zero-padded value has the same check digit as the 19-digit body).
    """
    body = secrets.randbelow(_RANDOM_RANGE)
    return f"{body:019d}{_DIGITS[damm_interim_of_int(body)]}"


def generate_codes(count: int) -> list[str]:
    """``count`` fresh codes, distributed exactly as :func:`generate_code` (batch generation).

    Each body is a uniform 64-bit draw from ``secrets.token_bytes`` (the OS
    CSPRNG behind ``secrets.randbelow``) kept only when below ``10**19``:
    rejection sampling, so every 19-digit body is equally likely.
    """
    codes: list[str] = []
    digits, limit, table = _DIGITS, _RANDOM_RANGE, damm_table4()
    while len(codes) < count:
        missing = count - len(codes)
        draws = array("Q", secrets.token_bytes(8 * (2 * missing + 8)))  # about 54 % are kept
        for body in draws:
            if body < limit:
                # damm_interim_of_int(body), inlined: 16 + 4 digits (the padding zero is neutral)
                high, low = divmod(body, 10**4)
                a, high = divmod(high, 10**12)
                b, high = divmod(high, 10**8)
                c, d = divmod(high, 10**4)
                interim = table[table[table[table[a] * 10000 + b] * 10000 + c] * 10000 + d]
                codes.append(f"{body:019d}{digits[table[interim * 10000 + low]]}")
                if len(codes) == count:
                    break
    return codes


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
    return hmac.digest(pepper, normalize_code(code).encode("ascii"), "sha256")


def code_hash_normalized(pepper: bytes, compact: str) -> bytes:
    """As :func:`code_hash` for a code already normalised (hot generation loop)."""
    return hmac.digest(pepper, compact.encode("ascii"), "sha256")


class CodeHasher:
    """``code_hash_normalized(pepper, code)`` for many codes: HMAC-SHA256 (RFC 2104) with
    the padded-key hashes computed once, so each code costs two hash copies
    instead of a fresh HMAC set-up (tested equal to :func:`hmac.digest`).
    """

    __slots__ = ("_inner", "_outer")

    def __init__(self, pepper: bytes) -> None:
        key = hashlib.sha256(pepper).digest() if len(pepper) > 64 else pepper
        key = key.ljust(64, b"\x00")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def __call__(self, compact: bytes) -> bytes:
        """The stored hash of one normalised code given as ASCII bytes."""
        inner = self._inner.copy()
        inner.update(compact)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()
