"""The account holder as a stranger may see it: enough to recognise one's own account, not to learn a name.

Shown before a card is spent (``/redeem``'s confirmation step, terminals'
``GET /api/v1/accounts/<no>``, redemption responses, SMS top-up replies), so a
mistyped but existing 户号 is noticed before the money goes to a stranger.

Each part of a name (Chinese names have one; Latin names are split at spaces
and hyphens) keeps its first and last character and masks the rest, one
``*`` per character: ``张小三`` -> ``张*三``, ``欧阳娜娜`` -> ``欧**娜``,
``Mary-Jane Smith`` -> ``M**y-J**e S***h``. A two-character part keeps only
its first (``李四`` -> ``李*``), a one-character name is ``*``. The district of
the address is masked the same way (``海淀区`` -> ``海*区``).
"""
from __future__ import annotations

import re
import unicodedata

MASK = "*"
_SEPARATORS = re.compile(r"([\s\-\u00b7\u30fb]+)")  # spaces, hyphens, the middle dot of transliterated names


def _mask_part(part: str) -> str:
    if len(part) <= 1:
        return MASK * len(part)
    if len(part) == 2:
        return part[0] + MASK
    return part[0] + MASK * (len(part) - 2) + part[-1]


def mask_name(name: str) -> str:
    """The holder's name masked (see the module docstring); blank or missing gives ``*``."""
    text = unicodedata.normalize("NFC", name or "").strip()
    if not text:
        return MASK
    pieces = _SEPARATORS.split(text)
    if len(pieces) == 1:
        return _mask_part(text)
    # separators stay as they are (one space for any run of blanks); single letters (initials) stay
    return "".join((" " if piece.isspace() else piece) if i % 2 else
                   (piece if len(piece) == 1 and len(pieces) > 1 else _mask_part(piece))
                   for i, piece in enumerate(pieces))


def mask_district(district: str | None) -> str | None:
    """The address district masked like a name; None when the account has none on record."""
    if district is None or not district.strip():
        return None
    return mask_name(district)
