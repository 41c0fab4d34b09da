"""The ticket that carries ``/redeem``'s first step to its confirmation without exposing the code.

Between "this is 张*三's account" and "confirm", the account number, the code
and the form's one-time submission id must survive one round trip through the
browser. They travel sealed (ChaCha20-Poly1305 under a key derived from the
pepper, never stored), bound to the visitor's CSRF token (another browser
cannot use the ticket) and valid for :data:`TICKET_SECONDS`: the code is never
in a URL, a cookie, the page's HTML or a log, and the account confirmed is
exactly the account credited.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

TICKET_SECONDS = 600
MAX_TICKET_LENGTH = 2048
_NONCE = 12


@dataclass(frozen=True)
class Ticket:
    """What the confirmation redeems. ``repr`` never shows the code."""

    account_no: str
    code: str
    submission: str
    pow_bits: int = 0  # the difficulty of the proof of work the first step's form carried (checked, spent)

    def __repr__(self) -> str:
        return (f"Ticket(account_no={self.account_no!r}, code=<hidden>, submission={self.submission!r}, "
                f"pow_bits={self.pow_bits!r})")


def _aad(csrf_token: str) -> bytes:
    return b"redeem-ticket/v1/" + hashlib.sha256(csrf_token.encode()).digest()


def seal_ticket(key: bytes, ticket: Ticket, *, csrf_token: str, now: dt.datetime) -> str:
    """The ticket as an opaque form value (base64url)."""
    expires = int(now.timestamp()) + TICKET_SECONDS
    plain = json.dumps({"a": ticket.account_no, "c": ticket.code, "s": ticket.submission, "p": ticket.pow_bits,
                        "e": expires}, separators=(",", ":")).encode()
    nonce = os.urandom(_NONCE)
    sealed = nonce + ChaCha20Poly1305(key).encrypt(nonce, plain, _aad(csrf_token))
    return base64.urlsafe_b64encode(sealed).decode("ascii").rstrip("=")


def open_ticket(key: bytes, value: str, *, csrf_token: str, now: dt.datetime) -> Ticket | None:
    """The ticket if it is genuine, of this visitor and not expired; else None (never says why)."""
    if not isinstance(value, str) or not value or len(value) > MAX_TICKET_LENGTH:
        return None
    try:
        sealed = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        if len(sealed) <= _NONCE:
            return None
        plain = ChaCha20Poly1305(key).decrypt(sealed[:_NONCE], sealed[_NONCE:], _aad(csrf_token))
        document = json.loads(plain)
        ticket = Ticket(str(document["a"]), str(document["c"]), str(document["s"]), int(document.get("p", 0)))
        expires = int(document["e"])
    except (InvalidTag, binascii.Error, ValueError, KeyError, TypeError):
        return None
    if now.timestamp() > expires:
        return None
    return ticket
