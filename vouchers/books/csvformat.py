"""The generic channel settlement/payments CSV (docs/contract.md §6.3), read line by line.

UTF-8 (a BOM is tolerated), header ``external_ref,account_no,amount,currency,paid_at``,
amount like ``12.50``, paid_at ISO 8601 (an offset is recommended; without one
the time is read as the business time zone, Asia/Shanghai by default).

Pure: no database. The rules here are the reference; the PostgreSQL fast path
of :mod:`vouchers.books.imports` checks the same rules in SQL (never more leniently)
and falls back to this reader whenever a line does not pass.
"""
from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from vouchers.books.errors import FileRejected, LineError, WrongEncoding
from vouchers.books.timeutil import zone
from vouchers.display import local_iso
from vouchers.errors import InvalidMoney, UnknownCurrency
from vouchers.money import check_currency, format_amount, parse_amount

HEADER = ("external_ref", "account_no", "amount", "currency", "paid_at")
MAX_REPORTED_ERRORS = 1000
# The largest single payment, in minor units (100,000,000.00): far above any real electricity payment, and
# ~900 million of them before a 64-bit balance overflows. ledger.payments applies the same cap.
MAX_PAYMENT = 10**10
# The earliest time a payment may have been made: older ones are typos (0001-..., 1900-...). The API's
# paid_at has the same bound.
EARLIEST_PAID_AT = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)

# printable ASCII without commas, no leading/trailing space, 1-64 characters, and not starting with
# = + - @ (a spreadsheet opening a report that holds the reference would run it as a formula)
REF_PATTERN = r"^[!-*.-<>?A-~]([ -+.-~-]{0,62}[!-+.-~-])?$"
REF_RULE = "1-64 printable ASCII characters without commas or surrounding spaces"
FORMULA_START = frozenset("=+-@\t\r")  # what makes a spreadsheet read a cell as a formula
ACCOUNT_PATTERN = r"^[0-9A-Za-z][0-9A-Za-z-]{0,31}$"
AMOUNT_PATTERN = r"^(0|[1-9][0-9]{0,14})(\.[0-9]{1,2})?$"
TIMESTAMP_PATTERN = (r"^([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2})(:([0-9]{2})(\.[0-9]{1,6})?)?"
                     r"(Z|[+-]([0-9]{2})(:?([0-9]{2}))?)?$")
_REF = re.compile(REF_PATTERN)
_ACCOUNT = re.compile(ACCOUNT_PATTERN)
_AMOUNT = re.compile(AMOUNT_PATTERN)
_TIMESTAMP = re.compile(TIMESTAMP_PATTERN)


@dataclass(frozen=True, slots=True)
class PaymentLine:
    line: int  # physical line number in the file (1 = header)
    external_ref: str
    account_no: str
    amount: int  # minor units, > 0
    currency: str
    paid_at: dt.datetime  # aware, UTC


class LineProblem(ValueError):
    pass


def ref_problem(ref: str) -> str:
    """Why ``ref`` is not a valid external reference (for a ref :data:`REF_PATTERN` refused)."""
    if ref[:1] in FORMULA_START:
        return (f"external_ref {ref!r} must not start with = + - or @ (a spreadsheet would run it as a "
                "formula)")
    return f"external_ref {ref!r} must be {REF_RULE}"


def text_cell(value: str) -> str:
    """A text cell for a CSV report: a leading ``'`` if a spreadsheet would otherwise run it as a formula.

    Only for free text (names, references); never for amounts such as ``-12.50``.
    """
    return "'" + value if value[:1] in FORMULA_START else value


def parse_timestamp(text: str, tz: str | dt.tzinfo | None = None) -> dt.datetime:
    """ISO 8601 date-time -> aware UTC; without an offset it is local time in ``tz``."""
    match = _TIMESTAMP.match(text)
    if match is None:
        raise LineProblem(f"paid_at {text!r} is not an ISO 8601 date-time like 2026-11-26T10:00:00+08:00")
    if match.group(10) is not None and int(match.group(10)) > 14:
        raise LineProblem(f"paid_at {text!r} has an impossible UTC offset")
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as e:
        raise LineProblem(f"paid_at {text!r} is not a valid date-time") from e
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone(tz))
    try:
        return value.astimezone(dt.timezone.utc)
    except OverflowError as e:  # e.g. 0001-01-01T00:00+14:00: before year 1 in UTC
        raise LineProblem(f"paid_at {text!r} is out of range") from e


def parse_fields(fields: list[str], line: int, tz: str | dt.tzinfo | None = None) -> PaymentLine:
    if len(fields) != len(HEADER):
        raise LineProblem(f"expected {len(HEADER)} fields, found {len(fields)}")
    ref, account_no, amount_text, currency, paid_at = fields
    if not _REF.match(ref):
        raise LineProblem(ref_problem(ref))
    if not _ACCOUNT.match(account_no):
        raise LineProblem(f"account_no {account_no!r} must be 1-32 letters, digits or dashes")
    if not _AMOUNT.match(amount_text):
        raise LineProblem(f"amount {amount_text!r} must be a positive decimal with at most two decimals, e.g. 12.50")
    try:
        amount = parse_amount(amount_text)
        check_currency(currency)
    except (InvalidMoney, UnknownCurrency) as e:
        raise LineProblem(str(e)) from e
    if amount <= 0:
        raise LineProblem(f"amount must be greater than zero, got {amount_text!r}")
    if amount > MAX_PAYMENT:
        raise LineProblem(f"amount {amount_text} is over the maximum of {format_amount(MAX_PAYMENT)} per payment")
    paid = parse_timestamp(paid_at, tz)
    if paid < EARLIEST_PAID_AT:
        raise LineProblem(f"paid_at {paid_at!r} is before {local_iso(EARLIEST_PAID_AT, zone(tz))}")
    return PaymentLine(line, ref, account_no, amount, currency, paid)


GENERIC_HINT = "the generic format is UTF-8 (Alipay bills in GBK: use --format alipay)"


def decoded_lines(stream: Iterable[bytes], encoding: str = "utf-8", hint: str = GENERIC_HINT) -> Iterator[str]:
    """Decode line by line so a wrong encoding is reported with its line number."""
    for number, raw in enumerate(stream, start=1):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as e:
            raise WrongEncoding(
                f"line {number} is not valid {encoding.upper()} (byte {e.start + 1}); {hint}",
                [LineError(number, "not valid " + encoding.upper())]) from e
        if number == 1:
            text = text.removeprefix("\ufeff")
        yield text


def read_generic(stream: BinaryIO, *, tz: str | dt.tzinfo | None = None) -> Iterator[PaymentLine | LineError]:
    """Every data line as a :class:`PaymentLine`, or a :class:`LineError` saying what is wrong."""
    reader = csv.reader(decoded_lines(stream), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise FileRejected("the file is empty (expected the header " + ",".join(HEADER) + ")") from None
    except csv.Error as e:
        raise FileRejected(f"line 1: unreadable header ({e})") from e
    if tuple(h.strip() for h in header) != HEADER:
        raise FileRejected(f"line 1: expected the header {','.join(HEADER)}, found {','.join(header)[:120]!r}")
    while True:
        start = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            yield LineError(start, f"malformed CSV: {e}")
            continue
        if not fields or fields == [""]:
            continue  # blank line
        try:
            yield parse_fields(fields, start, tz)
        except LineProblem as e:
            yield LineError(start, str(e), fields[0][:64] if fields else None)


def collect(items: Iterable[PaymentLine | LineError], limit: int = MAX_REPORTED_ERRORS
            ) -> tuple[list[PaymentLine], list[LineError], int]:
    """Split parsed items into (lines, first ``limit`` errors, total error count). Loads all lines."""
    lines: list[PaymentLine] = []
    errors: list[LineError] = []
    total = 0
    for item in items:
        if isinstance(item, LineError):
            total += 1
            if len(errors) < limit:
                errors.append(item)
        else:
            lines.append(item)
    return lines, errors, total
