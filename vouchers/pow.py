"""Hashcash-style proof of work for the public page, stateless on the server.

A challenge is ``v1.<issued>.<bits>.<nonce>.<mac>``: when it was issued (Unix seconds), how many
leading zero bits are asked, a random nonce, and an HMAC over those and the client's IP address, so
it is good only for that address, for ``ttl`` seconds, and cannot be forged or made easier. A
solution is any string ``s`` such that SHA-256(``challenge + ":" + s``) starts with ``bits`` zero
bits (about 2**bits hashes to find, one to check). Single use is enforced by the caller, which
records the nonce as spent (:meth:`vouchers.services.throttle.Throttle.spend_once`).
The page computes it with ``redeem_api/static/pow.js``; tests with :func:`solve`.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from vouchers.errors import VoucherError

VERSION = "v1"
MAX_SOLUTION = 32


class InvalidChallenge(VoucherError):
    """A proof of work that is forged, for another address, expired, reused or not solved."""

    code = "invalid_challenge"


@dataclass(frozen=True)
class Proof:
    nonce: str  # the single-use id
    bits: int
    issued: int


def _mac(secret: bytes, issued: int, bits: int, nonce: str, ip: str) -> str:
    message = f"{VERSION}.{issued}.{bits}.{nonce}.{ip}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:32]


def issue(secret: bytes, ip: str, bits: int, now_ts: int) -> str:
    """A fresh challenge for ``ip`` asking ``bits`` leading zero bits."""
    nonce = secrets.token_hex(12)
    return f"{VERSION}.{now_ts}.{bits}.{nonce}.{_mac(secret, now_ts, bits, nonce, ip)}"


def leading_zero_bits(digest: bytes) -> int:
    bits = 0
    for byte in digest:
        if byte == 0:
            bits += 8
            continue
        return bits + 8 - byte.bit_length()
    return bits


def work(challenge: str, solution: str) -> int:
    """Leading zero bits of SHA-256(challenge ":" solution)."""
    return leading_zero_bits(hashlib.sha256(f"{challenge}:{solution}".encode()).digest())


def verify(secret: bytes, ip: str, challenge: str, solution: str, now_ts: int, ttl: int) -> Proof:
    """The proof's nonce and difficulty, or :class:`InvalidChallenge` (not yet checked for reuse)."""
    parts = challenge.split(".")
    if len(parts) != 5 or parts[0] != VERSION or not parts[1].isdigit() or not parts[2].isdigit():
        raise InvalidChallenge("malformed challenge")
    issued, bits, nonce, mac = int(parts[1]), int(parts[2]), parts[3], parts[4]
    if not hmac.compare_digest(mac, _mac(secret, issued, bits, nonce, ip)):
        raise InvalidChallenge("challenge not issued to this address")
    if not issued - 60 <= now_ts <= issued + ttl:
        raise InvalidChallenge("challenge expired")
    if not solution or len(solution) > MAX_SOLUTION or not solution.isascii() or work(challenge, solution) < bits:
        raise InvalidChallenge("challenge not solved")
    return Proof(nonce, bits, issued)


def solve(challenge: str) -> str:
    """A solution by brute force (what the page's script does; for tests and tools)."""
    bits = int(challenge.split(".")[2])
    n = 0
    while work(challenge, str(n)) < bits:
        n += 1
    return str(n)
