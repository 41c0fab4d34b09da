"""Meter readings: idempotent, never decreasing, unknown meters refused, all or nothing per file."""
from __future__ import annotations

import datetime as dt
import io

import pytest
from sqlalchemy import func, select

from vouchers.metering.errors import InvalidAssignment, ReadingsRejected
from vouchers.metering.readings import RecordResult, import_readings_file
from vouchers.storage.metering_models import Meter, MeteringAccount, MeterReading, ReadingImport
from tests.integration.metering.conftest import World, at


def _import(world: World, text: str, *, now: dt.datetime | None = None,
            name: str = "readings.csv") -> RecordResult:
    with world.sessions.begin() as s:
        return import_readings_file(s, io.BytesIO(text.encode("utf-8")), file_name=name,
                                    now=now or at("2026-12-01"), actor="tester")


def _count(world: World, model=MeterReading) -> int:  # type: ignore[no-untyped-def]
    with world.sessions.begin() as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


@pytest.fixture
def two(world: World) -> World:
    world.customer("A1", opening=("2026-10-01", "100"))
    world.customer("A2", opening=("2026-10-01", "50"), time_of_use=True, opening_tou=("30", "20"))
    return world


def test_import_with_header_and_positional(two: World) -> None:
    result = _import(two, "account_no,meter,reading_date,reading\nA1,MA1,2026-10-20,150.5\n")
    assert (result.lines, result.inserted, result.duplicates) == (1, 1, 0)
    result = _import(two, "A1,MA1,2026-11-20,200\nA2,MA2,2026-11-20,80,45,35\n")
    assert (result.inserted, result.duplicates) == (2, 0)
    with two.sessions.begin() as s:
        rows = {(r.account_no, r.reading_date): r for r in s.execute(select(MeterReading)).scalars()}
    assert rows[("A1", dt.date(2026, 10, 20))].kwh_ckwh == 5050  # 150.50 - 100.00, exact hundredths
    assert rows[("A1", dt.date(2026, 11, 20))].kwh_ckwh == 4950
    a2 = rows[("A2", dt.date(2026, 11, 20))]
    assert (a2.kwh_ckwh, a2.peak_kwh_ckwh, a2.valley_kwh_ckwh) == (3000, 1500, 1500)


def test_same_file_twice_is_idempotent(two: World) -> None:
    text = "A1,MA1,2026-10-20,150\nA1,MA1,2026-11-20,170\n"
    first = _import(two, text)
    again = _import(two, text)
    assert (first.inserted, again.inserted, again.duplicates) == (2, 0, 2)
    assert _count(two) == 2 + 2  # two opening readings
    assert first.file_sha256 == again.file_sha256


def test_conflicting_values_for_the_same_day_are_refused(two: World) -> None:
    _import(two, "A1,MA1,2026-10-20,150\n")
    with pytest.raises(ReadingsRejected) as e:
        _import(two, "A1,MA1,2026-10-20,151\n")
    assert e.value.errors[0].code == "reading_conflict"


def test_decreasing_reading_refused_unless_replacement(two: World) -> None:
    with pytest.raises(ReadingsRejected) as e:
        _import(two, "A1,MA1,2026-10-20,99.99\n")
    assert e.value.errors[0].code == "decreasing_reading"
    assert "99.99 after 100.00" in e.value.errors[0].message
    result = _import(two, "account_no,meter,reading_date,reading,replacement\n"
                          "A1,MA1,2026-10-20,120,0\nA1,NEW7,2026-10-20,3,1\nA1,NEW7,2026-10-25,13,0\n")
    assert result.inserted == 3
    with two.sessions.begin() as s:
        assert s.get(MeteringAccount, "A1").meter_no == "NEW7"
        assert s.get(Meter, "MA1").removed_on == dt.date(2026, 10, 20)
        kwh = s.execute(select(func.sum(MeterReading.kwh_ckwh)).where(MeterReading.account_no == "A1")).scalar_one()
    assert kwh == 2000 + 1000  # 20 kWh on the old meter, 10 on the new one
    with pytest.raises(ReadingsRejected) as e:  # the old meter is gone
        _import(two, "A1,MA1,2026-10-30,130\n")
    assert e.value.errors[0].code == "unknown_meter" and "replaced" in e.value.errors[0].message


def test_unknown_meter_and_account_refused(two: World) -> None:
    with pytest.raises(ReadingsRejected) as e:
        _import(two, "A1,NOPE,2026-10-20,150\nZZ9,MZZ9,2026-10-20,1\nA1,MA2,2026-10-20,150\n")
    assert [x.code for x in e.value.errors] == ["unknown_meter", "unknown_account", "unknown_meter"]
    assert "belongs to account A2" in e.value.errors[2].message


def test_a_file_with_one_bad_line_stores_nothing(two: World) -> None:
    before = (_count(two), _count(two, ReadingImport))
    text = "\n".join(["account_no,meter,reading_date,reading"]
                     + [f"A1,MA1,2026-10-{d:02d},{100 + d}" for d in range(2, 20)]
                     + ["A1,MA1,2026-10-20,-5", "A1,MA1,2026-10-21,abc", "A1,MA1,2026-10-22,1.234",
                        "A1,MA1,2026-13-01,200", "A1,MA1", "A1,MA1,2026-10-23,90"]) + "\n"
    with pytest.raises(ReadingsRejected) as e:
        _import(two, text)
    codes = [(x.line, x.code) for x in e.value.errors]
    assert codes == [(20, "invalid_reading"), (21, "invalid_reading"), (22, "invalid_reading"),
                     (23, "invalid_reading"), (24, "invalid_line"), (25, "decreasing_reading")]
    assert "must not be negative" in e.value.errors[0].message
    assert (_count(two), _count(two, ReadingImport)) == before


def test_readings_arrive_in_date_order(two: World) -> None:
    _import(two, "A1,MA1,2026-10-20,150\n")
    with pytest.raises(ReadingsRejected) as e:
        _import(two, "A1,MA1,2026-10-10,120\n")
    assert "not after the latest reading" in e.value.errors[0].message
    with pytest.raises(ReadingsRejected) as e:
        _import(two, "A1,MA1,2026-12-02,160\n", now=at("2026-12-01"))
    assert "future" in e.value.errors[0].message


def test_time_of_use_registers_checked(two: World) -> None:
    with pytest.raises(ReadingsRejected) as e:
        _import(two, "A2,MA2,2026-10-20,80\nA2,MA2,2026-10-21,80,40,41\nA2,MA2,2026-10-22,80,29,20\n")
    assert [x.code for x in e.value.errors] == ["invalid_reading", "invalid_reading", "decreasing_reading"]
    assert "peak and valley" in e.value.errors[0].message
    assert "do not add up" in e.value.errors[1].message


def test_an_opening_reading_whose_peak_and_valley_do_not_make_up_the_register_is_refused(world: World) -> None:
    with pytest.raises(InvalidAssignment, match="do not add up"):
        world.customer("T1", opening=("2026-10-01", "800"), time_of_use=True, opening_tou=("500", "200"))
    with world.sessions.begin() as s:
        assert s.get(MeteringAccount, "T1") is None  # the whole set-up was refused
    world.customer("T2", opening=("2026-10-01", "800"), time_of_use=True, opening_tou=("500", "300"))
    result = _import(world, "T2,MT2,2026-10-20,900,550,350\nT2,MT2,2026-11-20,950,560,390\n")
    assert result.inserted == 2  # every later reading that adds up is taken


def test_a_reading_that_starts_the_registers_must_add_up(world: World) -> None:
    """The account's first reading, a meter replacement, or the first reading with registers."""
    world.customer("N1", opening=None, time_of_use=True)
    world.customer("N2", opening=("2026-10-01", "100"))  # not time-of-use: registers optional
    world.customer("T3", opening=("2026-10-01", "800"), time_of_use=True, opening_tou=("500", "300"))
    bad = ["N1,MN1,2026-10-20,800,500,200,0", "N2,MN2,2026-10-20,800,500,200,0",
           "T3,MT3-B,2026-10-20,10,5,4,1"]  # a new meter whose registers do not add up
    for line in bad:
        with pytest.raises(ReadingsRejected) as e:
            _import(world, "account_no,meter,reading_date,reading,peak,valley,replacement\n" + line + "\n")
        assert [x.code for x in e.value.errors] == ["invalid_reading"], line
        assert "do not add up to the register" in e.value.errors[0].message, line
    good = _import(world, "account_no,meter,reading_date,reading,peak,valley,replacement\n"
                          "N1,MN1,2026-10-20,800,500,300,0\nN2,MN2,2026-10-20,800,500,300,0\n"
                          "T3,MT3-B,2026-10-20,10,6,4,1\nN1,MN1,2026-11-20,900,560,340,0\n")
    assert good.inserted == 4


def test_encoding_and_header_errors(two: World) -> None:
    with pytest.raises(ReadingsRejected) as e, two.sessions.begin() as s:
        import_readings_file(s, io.BytesIO(b"A1,MA1,2026-10-20,150\n\xff\xfe\n"), file_name="x.csv",
                             now=at("2026-12-01"), actor="t")
    assert e.value.errors[-1].code == "wrong_encoding"
    with pytest.raises(ReadingsRejected) as e:
        _import(two, "account_no,meter,day,reading\nA1,MA1,2026-10-20,150\n")
    assert e.value.errors[0].code == "invalid_header"
    assert _import(two, "\ufeffaccount_no,meter,reading_date,reading\n\nA1,MA1,2026-10-20,150\n").inserted == 1


@pytest.mark.parametrize("text", ["", "\n \n\r\n", "\ufeff"])
def test_an_empty_file_is_refused(two: World, text: str) -> None:
    """Like a payments file: a file with nothing in it is a truncated or wrong file, not zero readings."""
    with pytest.raises(ReadingsRejected, match="the file is empty"):
        _import(two, text)
    assert _count(two, ReadingImport) == 0
    assert _import(two, "account_no,meter,reading_date,reading\n").lines == 0  # a header alone: nothing to read


def test_rejection_leaves_nothing_even_if_the_caller_commits(two: World) -> None:
    """The savepoint inside the import: catching the error and committing keeps nothing."""
    before = (_count(two), _count(two, ReadingImport))
    with two.sessions.begin() as s:
        with pytest.raises(ReadingsRejected):
            import_readings_file(s, io.BytesIO(b"A1,MA1,2026-10-20,150\nA1,MA1,2026-10-21,140\n"),
                                 file_name="x.csv", now=at("2026-12-01"), actor="t")
    assert (_count(two), _count(two, ReadingImport)) == before


def test_error_report_is_capped_but_counted(two: World) -> None:
    text = "".join(f"A1,MA1,2026-10-{1 + d % 28:02d},-1\n" for d in range(250))
    with pytest.raises(ReadingsRejected) as e:
        _import(two, text)
    assert e.value.total_errors == 250 and len(e.value.errors) == 100 and e.value.lines == 250


def test_many_lines_stream_in_chunks(two: World) -> None:
    start = dt.date(2019, 1, 1)
    text = "".join(f"A1,MA1,{start + dt.timedelta(days=i)},{1000 + i}\n" for i in range(2500))
    # the opening reading is later (2026-10-01): every line is out of order -> refused, nothing stored
    with pytest.raises(ReadingsRejected):
        _import(two, text)
    two.customer("B1", opening=("2018-12-31", "0"))
    text = "".join(f"B1,MB1,{start + dt.timedelta(days=i)},{i + 1}\n" for i in range(2500))
    result = _import(two, text)
    assert result.inserted == 2500
