"""A strict, block-at-a-time check of a generic-format file, for the PostgreSQL fast path.

The payments import streams the file's bytes into PostgreSQL's COPY. Before a
block goes out, :class:`BlockChecker` matches its complete lines against one
byte pattern per line, a strict subset of what the reference parser
(:mod:`vouchers.books.csvformat`) accepts: unquoted ASCII fields, no blank lines, an
amount above zero and below the cap with at most two decimals, a currency
with two decimals, a time with seconds optional, fraction 1-6 digits, offset
``Z`` or ``+HH:MM`` / ``+HHMM`` (hours up to 14) or none. Whatever it refuses - a file that is
merely unusual, or really bad - goes to the reference parser, which words
the errors. What it accepts, PostgreSQL's CSV reader splits into the same
fields as Python's, and the typing in SQL gives the same values; what it
cannot see (the 30th of February) makes the typing fail, which also sends the
file to the reference parser.

Pure: bytes in, a verdict out; matched with C-speed regular expressions over
64 KiB windows (about 1 µs a line), while the database parses the previous
block.
"""
from __future__ import annotations

import re

from vouchers.money import CURRENCIES

HEADER_LINE = b"external_ref,account_no,amount,currency,paid_at"
_BOM = b"\xef\xbb\xbf"
# printable ASCII without comma or double quote; no leading/trailing space; 1-64 characters; not starting
# with = + - @ (csvformat.REF_PATTERN: a spreadsheet would run it as a formula)
_REF = rb"[!#-*.-<>?A-~](?:[ !#-+.-~-]{0,62}[!#-+.-~-])?"
_ACCOUNT = rb"[0-9A-Za-z][0-9A-Za-z-]{0,31}"
# greater than zero and below the cap (csvformat.MAX_PAYMENT, 100000000.00): 1-8 integer digits not starting
# with 0, or 0.x / 0.0x / 0.xy (not 0.0 / 0.00); the cap itself goes to the reference parser
_AMOUNT = rb"(?:[1-9][0-9]{0,7}(?:\.[0-9]{1,2})?|0\.(?:[1-9][0-9]?|0[1-9]))"
_CURRENCY = b"(?:" + b"|".join(sorted(c.encode() for c, digits in CURRENCIES.items() if digits == 2)) + b")"
# years 2001-9999: a paid_at before 2000-01-01T00:00Z is refused (csvformat.EARLIEST_PAID_AT); year 2000, whose
# first hours may fall before it in UTC, goes to the reference parser
_LOCAL_TIME = (rb"(?:200[1-9]|20[1-9][0-9]|2[1-9][0-9]{2}|[3-9][0-9]{3})-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])[T ](?:[01][0-9]|2[0-3]):[0-5][0-9]"
               rb"(?::[0-5][0-9](?:\.[0-9]{1,6})?)?")
_OFFSET = rb"(?:Z|[+-](?:0[0-9]|1[0-4]):?[0-5][0-9])"
_FIELDS = _REF + b"," + _ACCOUNT + b"," + _AMOUNT + b"," + _CURRENCY + b"," + _LOCAL_TIME
_WITH_OFFSET = _FIELDS + _OFFSET
_ANY_TIME = _FIELDS + _OFFSET + b"?"
# runs of whole lines; a line ends in \n or \r\n
_RUN_WITH_OFFSET = re.compile(b"(?:" + _WITH_OFFSET + rb"\r?\n)*")
_RUN_ANY_TIME = re.compile(b"(?:" + _ANY_TIME + rb"\r?\n)*")
_LAST_WITH_OFFSET = re.compile(_WITH_OFFSET + rb"\r?")
_LAST_ANY_TIME = re.compile(_ANY_TIME + rb"\r?")
WINDOW = 1 << 16
MAX_LINE = 512  # far above any line the patterns accept


class BlockChecker:
    """Feed the file's bytes in order; ``ok`` stays True while every line passes.

    ``local_times``: some line has a time without offset (business local time).
    """

    def __init__(self) -> None:
        self.ok = True
        self.local_times = False
        self.lines = 0
        self._header_seen = False
        self._tail = b""

    def feed(self, block: bytes) -> bool:
        if not self.ok:
            return False
        data = self._tail + block if self._tail else block
        start = 0
        if not self._header_seen:
            end = data.find(b"\n")
            if end < 0:
                if len(data) > len(_BOM) + len(HEADER_LINE) + 1:
                    return self._fail()
                self._tail = data
                return True
            header = data[:end].removeprefix(_BOM).removesuffix(b"\r")
            if header != HEADER_LINE:
                return self._fail()
            self._header_seen, start = True, end + 1
        cut = data.rfind(b"\n") + 1
        if cut > start and not self._check_run(data, start, cut):
            return False
        self._tail = data[max(cut, start):]
        if len(self._tail) > MAX_LINE:
            return self._fail()
        return True

    def finish(self) -> bool:
        """After the last block: the last line, if it has no line end."""
        if not self.ok:
            return False
        if not self._header_seen:
            header = self._tail.removeprefix(_BOM).removesuffix(b"\r")
            return header == HEADER_LINE or self._fail()
        if self._tail:
            if _LAST_WITH_OFFSET.fullmatch(self._tail):
                pass
            elif _LAST_ANY_TIME.fullmatch(self._tail):
                self.local_times = True
            else:
                return self._fail()
            self.lines += 1
            self._tail = b""
        return True

    def _check_run(self, data: bytes, start: int, cut: int) -> bool:
        pos = start
        while pos < cut:
            end = data.rfind(b"\n", pos, min(pos + WINDOW, cut)) + 1
            if end <= pos:  # no line end within a whole window: far too long a line
                return self._fail()
            if not self.local_times and _RUN_WITH_OFFSET.fullmatch(data, pos, end):
                pass
            elif _RUN_ANY_TIME.fullmatch(data, pos, end):
                self.local_times = True
            else:
                return self._fail()
            self.lines += data.count(b"\n", pos, end)
            pos = end
        return True

    def _fail(self) -> bool:
        self.ok = False
        return False
