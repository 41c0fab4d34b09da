"""Meter readings: recorded once, never decreasing, all or nothing per file.

Rules for every reading (file import and head-end API alike):

* The account must have a tariff assignment; the meter must be the
  account's current meter (an unknown meter, another account's meter or a
  replaced meter is refused).
* Idempotent by (meter, reading day): the same values again are a
  duplicate and are skipped; other values for the same meter and day are a
  conflict.
* Readings of an account arrive in date order: a reading dated on or before
  the account's latest reading is refused, and so is a register lower than
  the previous one (**decreasing reading**), unless the line is marked as a
  **meter replacement**. A replacement line gives the new meter (or the
  reset register) and its starting reading on the day of the swap; it
  consumes nothing. Read the old meter's final register as an ordinary line
  of the old meter before the replacement line, on the same day or earlier.
* Time-of-use accounts need the peak and valley registers on every line, and
  the peak and valley consumption must add up to the total consumption. A
  reading that starts the registers (an account's first reading, a meter
  replacement, the first with registers) must have peak + valley = the total
  register: then every later reading that adds up is accepted.
* kWh are exact: registers are decimal text with at most two decimals,
  stored as integer hundredths. Floats are never involved.

:func:`import_readings_file` streams a CSV file in chunks: every line is
checked (and a per-line error report built) but the caller's transaction is
only committed when no line failed; :class:`ReadingsRejected` otherwise.
"""
from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from sqlalchemy import func, insert, select, tuple_, update
from sqlalchemy.orm import Session

from vouchers.metering.errors import InvalidReading, LineError, ReadingsRejected
from vouchers.metering.units import format_kwh, parse_register
from vouchers.storage.metering_models import Meter, MeteringAccount, MeterReading, ReadingImport

CHUNK = 2000
MAX_LISTED = 100
HEADER = ("account_no", "meter", "reading_date", "reading", "peak", "valley", "replacement")
_ALIASES = {"meter_no": "meter", "date": "reading_date", "account": "account_no"}
_TRUE = {"1", "true", "yes", "y", "replacement"}
_FALSE = {"", "0", "false", "no", "n"}
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
EARLIEST_READING_DATE = dt.date(2000, 1, 1)  # an older day is a typo (0001-..., 1900-...), never a reading


@dataclass(frozen=True, slots=True)
class ReadingInput:
    account_no: str
    meter_no: str
    reading_date: dt.date
    reading_ckwh: int
    peak_ckwh: int | None = None
    valley_ckwh: int | None = None
    replacement: bool = False
    line: int = 0  # where it came from, for the error report


@dataclass(frozen=True)
class RecordResult:
    lines: int
    inserted: int
    duplicates: int
    import_id: int | None = None
    file_sha256: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {"lines": self.lines, "inserted": self.inserted, "duplicates": self.duplicates,
                "import_id": self.import_id, "file_sha256": self.file_sha256}


@dataclass(slots=True)
class _Latest:
    day: dt.date
    meter_no: str
    reading: int
    peak: int | None
    valley: int | None


@dataclass(slots=True)
class _Account:
    meter_no: str
    time_of_use: bool


class _Recorder:
    """Checks readings chunk by chunk against the database and what came before."""

    def __init__(self, session: Session, *, now: dt.datetime, today: dt.date, source: str,
                 import_id: int | None) -> None:
        self.session = session
        self.now = now
        self.today = today
        self.source = source
        self.import_id = import_id
        self.lines = 0
        self.inserted = 0
        self.duplicates = 0
        self.errors: list[LineError] = []
        self.error_count = 0

    def error(self, line: int, code: str, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_LISTED:
            self.errors.append(LineError(line, code, message))

    def run(self, items: Iterable[ReadingInput | LineError]) -> None:
        chunk: list[ReadingInput] = []
        for item in items:
            self.lines += 1
            if isinstance(item, LineError):
                self.error(item.line, item.code, item.message)
                continue
            chunk.append(item)
            if len(chunk) >= CHUNK:
                self._chunk(chunk)
                chunk = []
        if chunk:
            self._chunk(chunk)

    def _chunk(self, chunk: list[ReadingInput]) -> None:
        session = self.session
        account_nos = sorted({r.account_no for r in chunk})
        accounts = {no: _Account(meter, bool(tou)) for no, meter, tou in session.execute(
            select(MeteringAccount.account_no, MeteringAccount.meter_no, MeteringAccount.time_of_use)
            .where(MeteringAccount.account_no.in_(account_nos))).all()}
        meter_nos = sorted({r.meter_no for r in chunk} | {a.meter_no for a in accounts.values()})
        meters = {no: (owner, removed) for no, owner, removed in session.execute(
            select(Meter.meter_no, Meter.account_no, Meter.removed_on).where(Meter.meter_no.in_(meter_nos))).all()}
        newest = (select(func.max(MeterReading.id)).where(MeterReading.account_no.in_(account_nos))
                  .group_by(MeterReading.account_no))
        latest = {row.account_no: _Latest(row.reading_date, row.meter_no, row.reading_ckwh, row.peak_ckwh,
                                          row.valley_ckwh)
                  for row in session.execute(select(MeterReading).where(MeterReading.id.in_(newest))).scalars()}
        pairs = sorted({(r.meter_no, r.reading_date) for r in chunk})
        stored: dict[tuple[str, dt.date], tuple] = {}
        for start in range(0, len(pairs), 500):
            for row in session.execute(
                    select(MeterReading.meter_no, MeterReading.reading_date, MeterReading.account_no,
                           MeterReading.reading_ckwh, MeterReading.peak_ckwh, MeterReading.valley_ckwh,
                           MeterReading.replacement)
                    .where(tuple_(MeterReading.meter_no, MeterReading.reading_date).in_(pairs[start:start + 500]))
            ).all():
                stored[(row[0], row[1])] = (row[2], row[3], row[4], row[5], bool(row[6]))
        rows: list[dict[str, object]] = []
        for r in chunk:
            self._one(r, accounts, meters, latest, stored, rows)
        if rows:
            session.execute(insert(MeterReading.__table__), rows)
            self.inserted += len(rows)

    def _one(self, r: ReadingInput, accounts: dict[str, _Account], meters: dict[str, tuple[str, dt.date | None]],
             latest: dict[str, _Latest], stored: dict[tuple[str, dt.date], tuple],
             rows: list[dict[str, object]]) -> None:
        line = r.line
        account = accounts.get(r.account_no)
        if account is None:
            self.error(line, "unknown_account", f"account {r.account_no} has no tariff assignment (unknown account)")
            return
        if r.reading_date > self.today:
            self.error(line, "invalid_reading", f"reading date {r.reading_date} is in the future")
            return
        if (r.peak_ckwh is None) != (r.valley_ckwh is None):
            self.error(line, "invalid_reading", "give both the peak and the valley register, or neither")
            return
        values = (r.account_no, r.reading_ckwh, r.peak_ckwh, r.valley_ckwh, r.replacement)
        key = (r.meter_no, r.reading_date)
        if key in stored:
            if stored[key] == values:
                self.duplicates += 1
            else:
                self.error(line, "reading_conflict",
                           f"meter {r.meter_no} already has a different reading on {r.reading_date} "
                           f"({format_kwh(stored[key][1])})")
            return
        owner = meters.get(r.meter_no)
        if not r.replacement:
            if owner is None:
                self.error(line, "unknown_meter", f"unknown meter {r.meter_no}")
                return
            if owner[0] != r.account_no:
                self.error(line, "unknown_meter", f"meter {r.meter_no} belongs to account {owner[0]}, "
                                                  f"not {r.account_no}")
                return
            if r.meter_no != account.meter_no:
                self.error(line, "unknown_meter", f"meter {r.meter_no} was replaced"
                           + (f" on {owner[1]}" if owner[1] else "")
                           + f"; account {r.account_no} is read on meter {account.meter_no}")
                return
        elif owner is not None and (owner[0] != r.account_no or r.meter_no != account.meter_no):
            self.error(line, "meter_in_use", f"meter {r.meter_no} is already registered"
                       + (f" to account {owner[0]}" if owner[0] != r.account_no else " and was removed"))
            return
        has_registers = r.peak_ckwh is not None
        if account.time_of_use and not has_registers:
            self.error(line, "invalid_reading", f"account {r.account_no} is billed by time of use: the line needs "
                                                "the peak and valley registers")
            return
        prev = latest.get(r.account_no)
        kwh = 0
        peak_kwh: int | None = 0 if has_registers else None
        valley_kwh: int | None = 0 if has_registers else None
        if prev is not None and r.replacement:
            if r.reading_date < prev.day:
                self.error(line, "invalid_reading", f"replacement on {r.reading_date} is before the latest reading "
                                                    f"of account {r.account_no} on {prev.day}")
                return
        elif prev is not None:
            if r.reading_date <= prev.day:
                self.error(line, "invalid_reading", f"reading date {r.reading_date} is not after the latest reading "
                                                    f"of account {r.account_no} ({prev.day}); readings arrive in "
                                                    "date order")
                return
            if r.reading_ckwh < prev.reading:
                self.error(line, "decreasing_reading",
                           f"decreasing reading on meter {r.meter_no}: {format_kwh(r.reading_ckwh)} after "
                           f"{format_kwh(prev.reading)} on {prev.day} (mark the line as a meter replacement if "
                           "the meter was changed)")
                return
            kwh = r.reading_ckwh - prev.reading
            if has_registers and prev.peak is not None and prev.valley is not None:
                assert r.peak_ckwh is not None and r.valley_ckwh is not None
                peak_kwh, valley_kwh = r.peak_ckwh - prev.peak, r.valley_ckwh - prev.valley
                if peak_kwh < 0 or valley_kwh < 0:
                    self.error(line, "decreasing_reading", f"decreasing peak or valley register on meter {r.meter_no}")
                    return
                if peak_kwh + valley_kwh != kwh:
                    self.error(line, "invalid_reading",
                               f"peak {format_kwh(peak_kwh)} + valley {format_kwh(valley_kwh)} kWh do not add up "
                               f"to the consumption of {format_kwh(kwh)} kWh")
                    return
            elif account.time_of_use:
                self.error(line, "invalid_reading", f"the previous reading of meter {r.meter_no} has no peak/valley "
                                                    "registers (record a replacement line to start them)")
                return
            else:
                peak_kwh = valley_kwh = None
        if has_registers and (prev is None or r.replacement or prev.peak is None or prev.valley is None):
            try:  # these registers are the baseline of the next reading's peak and valley consumption
                check_baseline_registers(r.reading_ckwh, r.peak_ckwh, r.valley_ckwh)
            except InvalidReading as e:
                self.error(line, e.code, str(e))
                return
        rows.append({"account_no": r.account_no, "meter_no": r.meter_no, "reading_date": r.reading_date,
                     "reading_ckwh": r.reading_ckwh, "peak_ckwh": r.peak_ckwh, "valley_ckwh": r.valley_ckwh,
                     "kwh_ckwh": kwh, "peak_kwh_ckwh": peak_kwh, "valley_kwh_ckwh": valley_kwh,
                     "replacement": r.replacement, "import_id": self.import_id, "source": self.source,
                     "created_at": self.now})
        stored[key] = values
        latest[r.account_no] = _Latest(r.reading_date, r.meter_no, r.reading_ckwh, r.peak_ckwh, r.valley_ckwh)
        if r.replacement and r.meter_no != account.meter_no:
            self._swap_meter(r, account, meters)

    def _swap_meter(self, r: ReadingInput, account: _Account, meters: dict[str, tuple[str, dt.date | None]]) -> None:
        session = self.session
        old = account.meter_no
        session.execute(update(Meter).where(Meter.meter_no == old).values(removed_on=r.reading_date))
        session.execute(insert(Meter.__table__).values(meter_no=r.meter_no, account_no=r.account_no,
                                                       installed_on=r.reading_date))
        session.execute(update(MeteringAccount).where(MeteringAccount.account_no == r.account_no)
                        .values(meter_no=r.meter_no, updated_at=self.now))
        meters[old] = (r.account_no, r.reading_date)
        meters[r.meter_no] = (r.account_no, None)
        account.meter_no = r.meter_no


def check_baseline_registers(reading_ckwh: int, peak_ckwh: int | None, valley_ckwh: int | None) -> None:
    """The registers a meter's readings start from: peak + valley make up the total (as every later
    reading's peak and valley consumption must add up to its consumption). InvalidReading if not."""
    if peak_ckwh is None or valley_ckwh is None or peak_ckwh + valley_ckwh == reading_ckwh:
        return
    raise InvalidReading(f"peak {format_kwh(peak_ckwh)} + valley {format_kwh(valley_ckwh)} kWh do not add up to "
                         f"the register of {format_kwh(reading_ckwh)} kWh")


def _today(now: dt.datetime, tz: dt.tzinfo | None) -> dt.date:
    if now.tzinfo is None:
        raise ValueError("naive datetime: pass an aware datetime")
    import zoneinfo

    return now.astimezone(tz or zoneinfo.ZoneInfo("Asia/Shanghai")).date()


def record_readings(session: Session, readings: Iterable[ReadingInput | LineError], *, now: dt.datetime,
                    source: str = "api", import_id: int | None = None, tz: dt.tzinfo | None = None) -> RecordResult:
    """Record readings (e.g. from a metering head-end). All or nothing: on any bad
    line nothing is kept (a savepoint is rolled back, even if the caller then
    commits) and :class:`ReadingsRejected` lists every bad line."""
    savepoint = session.begin_nested()
    try:
        result = _record(session, readings, now=now, source=source, import_id=import_id, tz=tz)
    except BaseException:
        savepoint.rollback()
        raise
    savepoint.commit()
    return result


def _record(session: Session, readings: Iterable[ReadingInput | LineError], *, now: dt.datetime, source: str,
            import_id: int | None, tz: dt.tzinfo | None) -> RecordResult:
    recorder = _Recorder(session, now=now, today=_today(now, tz), source=source, import_id=import_id)
    recorder.run(readings)
    if recorder.error_count:
        raise ReadingsRejected(f"{recorder.error_count} of {recorder.lines} readings refused; nothing was recorded",
                               recorder.errors, recorder.error_count, recorder.lines)
    return RecordResult(recorder.lines, recorder.inserted, recorder.duplicates, import_id)


class CsvSource:
    """Parse a readings CSV from a binary stream, hashing the bytes as they pass.

    Format: ``account_no,meter,reading_date,reading[,peak,valley[,replacement]]``,
    with or without a header row (a header names the columns, in any order).
    UTF-8, a byte-order mark is allowed. Blank lines are ignored.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._hash = hashlib.sha256()
        self.file_error: LineError | None = None
        self.empty = True  # no line but blank ones (read so far)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def _text_lines(self) -> Iterator[str]:
        decoder = codecs.getincrementaldecoder("utf-8-sig")()
        for number, raw in enumerate(self._stream, start=1):
            self._hash.update(raw)
            try:
                yield decoder.decode(raw)
            except UnicodeDecodeError as e:
                raise _Undecodable(number) from e
        tail = decoder.decode(b"", final=True)
        if tail:  # pragma: no cover - only for a truncated multi-byte sequence at the very end
            yield tail

    def __iter__(self) -> Iterator[ReadingInput | LineError]:
        reader = csv.reader(self._text_lines(), strict=True)
        columns: tuple[str, ...] | None = None
        header_seen = False  # only the first non-blank line may be a header
        try:
            for fields in reader:
                line = reader.line_num
                if not fields or all(not f.strip() for f in fields):
                    continue
                self.empty = False
                fields = [f.strip() for f in fields]
                if not header_seen and any(f.lower() in ("account_no", "account") for f in fields):
                    names = tuple(_ALIASES.get(f.lower(), f.lower()) for f in fields)
                    unknown = [n for n in names if n not in HEADER]
                    missing = [n for n in HEADER[:4] if n not in names]
                    if unknown or missing or len(set(names)) != len(names):
                        yield LineError(line, "invalid_header",
                                        f"header must name account_no, meter, reading_date, reading and optionally "
                                        f"peak, valley, replacement (unknown: {unknown}, missing: {missing})")
                        return
                    columns = names
                    header_seen = True
                    continue
                header_seen = True
                if columns is None and len(fields) not in (4, 6, 7):
                    yield LineError(line, "invalid_line", "expected 4, 6 or 7 fields (account_no, meter, "
                                                          f"reading_date, reading[, peak, valley[, replacement]]), "
                                                          f"got {len(fields)}")
                    continue
                yield _parse_fields(line, fields, columns or HEADER[:len(fields)])
        except _Undecodable as e:
            yield LineError(e.line, "wrong_encoding", "the file is not UTF-8 text")
        except csv.Error as e:
            yield LineError(reader.line_num, "invalid_csv", f"malformed CSV: {e}")


class _Undecodable(Exception):
    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


def _parse_fields(line: int, fields: list[str], columns: tuple[str, ...]) -> ReadingInput | LineError:
    if len(fields) != len(columns):
        return LineError(line, "invalid_line", f"expected {len(columns)} fields ({','.join(columns)}), "
                                               f"got {len(fields)}")
    row = dict(zip(columns, fields, strict=False))
    try:
        account_no = row["account_no"]
        meter = row["meter"]
        if not account_no:
            raise InvalidReading("account_no is empty")
        if not meter:
            raise InvalidReading("meter is empty")
        try:
            if not _DATE.match(row["reading_date"]):
                raise ValueError("not YYYY-MM-DD")
            day = dt.date.fromisoformat(row["reading_date"])
        except ValueError as e:
            raise InvalidReading(f"reading_date must be a date like 2026-11-20, got {row['reading_date']!r}") from e
        if day < EARLIEST_READING_DATE:
            raise InvalidReading(f"reading_date {day} is before {EARLIEST_READING_DATE}")
        reading = parse_register(row["reading"], "reading")
        peak_text, valley_text = row.get("peak", ""), row.get("valley", "")
        peak = parse_register(peak_text, "peak") if peak_text else None
        valley = parse_register(valley_text, "valley") if valley_text else None
        flag = row.get("replacement", "").lower()
        if flag not in _TRUE | _FALSE:
            raise InvalidReading(f"replacement must be 1/0, yes/no or true/false, got {row['replacement']!r}")
        return ReadingInput(account_no, meter, day, reading, peak, valley, flag in _TRUE, line)
    except InvalidReading as e:
        return LineError(line, e.code, str(e))


def reading_input(*, account_no: str, meter: str, reading_date: str, reading: str, peak: str | None = None,
                  valley: str | None = None, replacement: bool = False) -> ReadingInput:
    """One reading from text fields (e.g. a head-end's JSON body), checked like a CSV line.

    Raises :class:`~vouchers.metering.errors.InvalidReading` for a malformed field;
    pass the result to :func:`record_readings`.
    """
    fields = [account_no, meter, reading_date, reading, peak or "", valley or "", "1" if replacement else "0"]
    if not all(isinstance(f, str) for f in fields):
        raise InvalidReading("every reading field must be text")
    parsed = _parse_fields(0, [f.strip() for f in fields], HEADER)
    if isinstance(parsed, LineError):
        raise InvalidReading(parsed.message)
    return parsed


def import_readings_file(session: Session, stream: BinaryIO, *, file_name: str, now: dt.datetime,
                         actor: str, tz: dt.tzinfo | None = None) -> RecordResult:
    """Import one readings CSV inside the caller's transaction, all or nothing
    (a savepoint: a rejected file leaves no trace, not even its import record)."""
    savepoint = session.begin_nested()
    try:
        imp = ReadingImport(file_name=file_name[-255:], file_sha256="", lines=0, inserted=0, duplicates=0,
                            imported_at=now, actor=actor)
        session.add(imp)
        session.flush()
        source = CsvSource(stream)
        result = _record(session, source, now=now, source="file", import_id=imp.id, tz=tz)
        if source.empty:  # a truncated or wrong file, not "no readings today"
            raise ReadingsRejected("the file is empty (expected lines account_no,meter,reading_date,reading"
                                   "[,peak,valley[,replacement]], a header optional)", [], 0, 0)
        imp.file_sha256 = source.sha256
        imp.lines, imp.inserted, imp.duplicates = result.lines, result.inserted, result.duplicates
        session.flush()
    except BaseException:
        savepoint.rollback()
        raise
    savepoint.commit()
    return RecordResult(result.lines, result.inserted, result.duplicates, imp.id, source.sha256)
