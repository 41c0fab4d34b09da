"""Free text people type (operator, actor, reason, name): one rule wherever it reaches logs or the audit trail.

Not blank, at most the column's length, and no control, format or line-separator
character: a newline in an operator's name would forge a line in ``audit list``
or in a log, a bidi override would disguise it.
"""
from __future__ import annotations

import unicodedata

from vouchers.errors import VoucherError

ACTOR_MAX = 100  # audit_events.actor, batches.created_by / approved_by, print runs' operator: String(100)
CLIENT_NAME_MAX = 100  # api_clients.name: String(100)
NAME_MAX = 200  # customer_accounts.name, distributors.name: String(200)
REASON_MAX = 500  # Text columns; the same limit as vending.meters.MAX_REASON

# Cc: C0, DEL, C1 controls; Cf: format (bidi overrides, zero-width); Zl, Zp: U+2028, U+2029; Cs: lone surrogates
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


class InvalidText(VoucherError, ValueError):
    """An operator, actor, reason or name that breaks the free-text rule."""

    code = "invalid_text"


def text_problem(value: str, max_length: int) -> str | None:
    """Why ``value`` is not acceptable free text (e.g. "must not contain control characters"), or None."""
    if not value.strip():
        return "must not be blank"
    if len(value) > max_length:
        return f"must be at most {max_length} characters"
    if value.isprintable():  # fast path (audit events of every redemption): no refused category is printable
        return None
    for char in value:
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            return f"must not contain control characters (found U+{ord(char):04X})"
    return None


def check_text(value: str, what: str, max_length: int) -> str:
    """``value`` unchanged if it is acceptable free text; else :class:`InvalidText` naming ``what``."""
    problem = text_problem(value, max_length) if isinstance(value, str) else "must be text"
    if problem is not None:
        raise InvalidText(f"{what} {problem}")
    return value


def printable(value: str) -> str:
    """``value`` for one line of a listing: refused characters shown as escapes (e.g. ``\\n``)."""
    if all(unicodedata.category(c) not in _REFUSED_CATEGORIES for c in value):
        return value
    return "".join(c.encode("unicode_escape").decode("ascii") if unicodedata.category(c) in _REFUSED_CATEGORIES
                   else c for c in value)
