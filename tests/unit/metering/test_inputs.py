"""Parsing of registers and readings CSV files; configuration; percentages. No database."""
from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest

from vouchers.config import ConfigError as SettingsError, Settings
from vouchers.metering.config import MeteringConfig
from vouchers.metering.errors import InvalidReading, LineError
from vouchers.metering.readings import CsvSource, ReadingInput
from vouchers.metering.units import (
    format_kwh,
    from_kwh,
    parse_register,
    percent_1dp,
    round_half_up_fen,
    to_kwh,
)


@pytest.mark.parametrize("text,ckwh", [("0", 0), ("12", 1200), ("12.3", 1230), ("12.34", 1234), (" 7.05 ", 705),
                                       ("999999999.99", 99999999999)])
def test_parse_register(text: str, ckwh: int) -> None:
    assert parse_register(text) == ckwh
    assert parse_register(format_kwh(ckwh) or "") == ckwh


@pytest.mark.parametrize("text,message", [("-1", "negative"), ("1.234", "two decimals"), ("1e3", "two decimals"),
                                          ("", "two decimals"), ("+5", "two decimals"), ("１２", "two decimals"),
                                          ("1000000000", "implausibly large"), ("nan", "two decimals")])
def test_parse_register_refusals(text: str, message: str) -> None:
    with pytest.raises(InvalidReading, match=message):
        parse_register(text)
    with pytest.raises(InvalidReading):
        parse_register(12.5)  # type: ignore[arg-type]  # a float never


def test_kwh_conversions() -> None:
    assert to_kwh(50000) == Decimal(500) and str(to_kwh(1234)) == "12.34"
    assert from_kwh(Decimal("12.34")) == 1234 and from_kwh(7) == 700
    with pytest.raises(InvalidReading):
        from_kwh(Decimal("0.001"))
    assert round_half_up_fen(Decimal("74.745")) == 7475 and round_half_up_fen(Decimal("74.7449")) == 7474


@pytest.mark.parametrize("num,den,expected", [(1, 3, "33.3"), (2, 3, "66.7"), (1, 8, "12.5"), (1, 16, "6.3"),
                                              (0, 5, "0.0"), (5, 5, "100.0"), (19966, 39966, "50.0")])
def test_percent_half_up(num: int, den: int, expected: str) -> None:
    assert str(percent_1dp(num, den)) == expected
    assert percent_1dp(1, 0) is None


def _parse(text: bytes) -> list[ReadingInput | LineError]:
    return list(CsvSource(io.BytesIO(text)))


def test_csv_positional_and_header() -> None:
    items = _parse(b"A1,M1,2026-11-20,123.45\nA1,M1,2026-11-21,124,70,54\nA1,M2,2026-11-22,5,,,1\n")
    assert items[0] == ReadingInput("A1", "M1", dt.date(2026, 11, 20), 12345, None, None, False, 1)
    assert items[1] == ReadingInput("A1", "M1", dt.date(2026, 11, 21), 12400, 7000, 5400, False, 2)
    assert isinstance(items[2], ReadingInput) and items[2].replacement
    items = _parse(b"\xef\xbb\xbfReading,Account_No,Meter_No,Reading_Date\n5,A1,M1,2026-11-20\n")
    assert items == [ReadingInput("A1", "M1", dt.date(2026, 11, 20), 500, line=2)]


def test_csv_errors_carry_line_numbers() -> None:
    items = _parse(b"A1,M1,2026-11-20,1\n\nA1,M1\nA1,M1,20261120,1\nA1,M1,2026-11-20,1,2\n"
                   b",M1,2026-11-20,1\nA1,M1,2026-11-20,1,2,3,maybe\n\"A1,M1\n")
    errors = [(i.line, i.code) for i in items if isinstance(i, LineError)]
    assert errors[:5] == [(3, "invalid_line"), (4, "invalid_reading"), (5, "invalid_line"), (6, "invalid_reading"),
                          (7, "invalid_reading")]
    assert errors[-1][1] in ("invalid_csv", "invalid_line")


def test_csv_header_problems_stop_the_file() -> None:
    items = _parse(b"account_no,meter,reading_date,reading,extra\nA1,M1,2026-11-20,1\n")
    assert len(items) == 1 and isinstance(items[0], LineError) and items[0].code == "invalid_header"


def test_csv_hash_is_of_the_bytes() -> None:
    import hashlib

    data = b"A1,M1,2026-11-20,1\r\nA1,M1,2026-11-21,2\r\n"
    source = CsvSource(io.BytesIO(data))
    list(source)
    assert source.sha256 == hashlib.sha256(data).hexdigest()


def test_config_from_env() -> None:
    def from_env(env):  # the edges' way: the typed settings build it
        return Settings.from_env(env).metering

    config = from_env({"VOUCHER_LOW_BALANCE_WARNING": "50.00", "VOUCHER_DISCONNECT_NOTICE_DAYS": "7",
                       "VOUCHER_BILL_DUE_DAYS": "15"})
    assert (config.warning_threshold_fen, config.notice_days, config.due_days) == (5000, 7, 15)
    assert from_env({}) == MeteringConfig()
    for env in ({"VOUCHER_LOW_BALANCE_WARNING": "30.001"}, {"VOUCHER_DISCONNECT_HOUR": "25"},
                {"VOUCHER_BILL_DUE_DAYS": "seven"}, {"VOUCHER_TIMEZONE": "Mars/Olympus"},
                {"VOUCHER_BILLING_BATCH": "0"}):
        with pytest.raises(SettingsError, match=next(iter(env))):
            from_env(env)
    local = MeteringConfig().local_time(dt.date(2026, 3, 27), 8)
    assert local == dt.datetime(2026, 3, 27, 0, 0, tzinfo=dt.UTC)


def test_reading_input_for_the_api() -> None:
    from vouchers.metering.readings import reading_input

    got = reading_input(account_no="A1", meter="M1", reading_date="2026-11-20", reading="12.5", peak="7",
                        valley="5.5")
    assert got == ReadingInput("A1", "M1", dt.date(2026, 11, 20), 1250, 700, 550, False, 0)
    with pytest.raises(InvalidReading, match="negative"):
        reading_input(account_no="A1", meter="M1", reading_date="2026-11-20", reading="-1")
    with pytest.raises(InvalidReading, match="date"):
        reading_input(account_no="A1", meter="M1", reading_date="20.11.2026", reading="1")


@pytest.mark.parametrize("day", ["0001-01-01", "1900-01-01", "1999-12-31"])
def test_a_reading_before_2000_is_refused(day: str) -> None:
    from vouchers.metering.readings import reading_input

    with pytest.raises(InvalidReading, match="before 2000-01-01"):
        reading_input(account_no="A1", meter="M1", reading_date=day, reading="1")
    assert reading_input(account_no="A1", meter="M1", reading_date="2000-01-01", reading="1").reading_date == \
        dt.date(2000, 1, 1)
