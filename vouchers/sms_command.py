"""Reading a customer's top-up text message (短信缴费): ``CZ <户号> <20-digit code>``.

Phones send what the keyboard gives: full-width letters and digits
(``ＣＺ　１２３…``), the ideographic space, several spaces, lower case, a code
typed in groups. NFKC folds the full-width forms to ASCII; then the keyword
(case-insensitive), the account number (letters, digits, dashes) and the
code's digits (spaces and dashes between them allowed) are taken apart.
Anything else is not a top-up command (the caller answers with help). The
code is only validated here for shape; the check digit is the redeem flow's.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

KEYWORD = "CZ"  # 充值
_COMMAND = re.compile(r"CZ\s+([0-9A-Z][0-9A-Z\-]{0,31})\s+([0-9][0-9 \-]{18,60}[0-9])", re.IGNORECASE)
_DASHES = str.maketrans({"\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-",
                         "\u2212": "-", "\u30fc": "-"})


@dataclass(frozen=True)
class TopUp:
    """A well-formed top-up command. ``repr`` never shows the code."""

    account_no: str
    code: str  # digits only (the check digit is not verified here)

    def __repr__(self) -> str:
        return f"TopUp(account_no={self.account_no!r}, code=<hidden>)"


def parse_topup(text: str) -> TopUp | None:
    """The command in ``text``, or None if it is not ``CZ <account> <20 digits>`` in any of its spellings."""
    if not isinstance(text, str) or len(text) > 500:
        return None
    folded = unicodedata.normalize("NFKC", text).translate(_DASHES)
    folded = " ".join(folded.split())  # any run of blanks (the ideographic space folds to a space)
    match = _COMMAND.fullmatch(folded.strip(" .。!！"))
    if match is None:
        return None
    code = "".join(ch for ch in match.group(2) if ch.isdigit())
    if len(code) != 20:
        return None
    return TopUp(match.group(1), code)
