"""Tariff assignment and bad input: clear errors, nothing half-stored."""
from __future__ import annotations

import datetime as dt
import io

import pytest
from sqlalchemy import func, select

from vouchers.books import customers
from vouchers.books.errors import UnknownAccount
from vouchers.metering.accounts import assign_tariff, get_assignment
from vouchers.metering.errors import (
    InvalidAssignment,
    MeterInUse,
    NotAssigned,
    ReadingsRejected,
    UnknownTariff,
)
from vouchers.metering.readings import import_readings_file
from vouchers.storage.ledger_models import LedgerPosting
from vouchers.storage.metering_models import MeteringAccount, MeteringBill, MeterReading
from vouchers.storage.models import AuditEvent
from tests.integration.metering.conftest import World, at


def _assign(world: World, account: str, **overrides) -> None:  # type: ignore[no-untyped-def]
    values = dict(tariff_id="fj-residential", customer_class="residential", payment_mode="prepaid", area="Xiamen",
                  meter_no=f"M{account}", catalog=world.catalog, now=at("2026-03-01"))
    values.update(overrides)
    with world.sessions.begin() as s:
        assign_tariff(s, account, **values)


@pytest.fixture
def plain(world: World) -> World:
    with world.sessions.begin() as s:
        customers.create_customer(s, "N1", "New customer", now=at("2026-03-01"))
        customers.create_customer(s, "N2", "Other customer", now=at("2026-03-01"))
    return world


@pytest.mark.parametrize("overrides,error,message", [
    ({"tariff_id": "xx-nowhere"}, UnknownTariff, "unknown tariff 'xx-nowhere'"),
    ({"customer_class": "vip"}, InvalidAssignment, "customer class"),
    ({"payment_mode": "credit"}, InvalidAssignment, "payment mode"),
    ({"area": " "}, InvalidAssignment, "area"),
    ({"meter_no": "bad meter!"}, InvalidAssignment, "meter number"),
    ({"tariff_id": "jx-shared-meter", "low_income": True}, InvalidAssignment, "no low-income allowance"),
    ({"tariff_id": "jx-large-family", "time_of_use": True}, InvalidAssignment, "no time-of-use"),
    ({"warning_threshold": -1}, InvalidAssignment, "warning threshold"),
    ({"supply_start": dt.date(2026, 5, 1), "supply_end": dt.date(2026, 4, 1)}, InvalidAssignment, "supply end"),
    ({"time_of_use": True, "opening_reading_ckwh": 0, "opening_date": dt.date(2026, 3, 1)}, InvalidAssignment,
     "peak and valley"),
])
def test_assignment_refusals_store_nothing(plain: World, overrides: dict, error: type[Exception],
                                           message: str) -> None:
    with pytest.raises(error, match=message):
        _assign(plain, "N1", **overrides)
    with plain.sessions.begin() as s:
        assert s.execute(select(func.count()).select_from(MeteringAccount)).scalar_one() == 0


def test_unknown_account(plain: World) -> None:
    with pytest.raises(UnknownAccount):
        _assign(plain, "NOPE")
    with plain.sessions.begin() as s, pytest.raises(NotAssigned):
        get_assignment(s, "N1")


def test_change_of_tariff_keeps_the_meter_and_is_audited(plain: World) -> None:
    _assign(plain, "N1")
    with pytest.raises(MeterInUse):
        _assign(plain, "N2", meter_no="MN1")
    _assign(plain, "N1", tariff_id="fj-shared-meter", payment_mode="postpaid")
    with pytest.raises(InvalidAssignment, match="meter-replacement reading"):
        _assign(plain, "N1", meter_no="OTHER")
    with plain.sessions.begin() as s:
        assert (get_assignment(s, "N1").tariff_id, get_assignment(s, "N1").meter_no) == ("fj-shared-meter", "MN1")
        events = s.execute(select(AuditEvent.action, AuditEvent.from_state, AuditEvent.to_state)
                           .where(AuditEvent.subject_id == "N1").order_by(AuditEvent.id)).all()
    assert events == [("metering.assign", None, "fj-residential"),
                      ("metering.assign", "fj-residential", "fj-shared-meter")]


def test_bad_readings_file_posts_and_bills_nothing(world: World) -> None:
    world.customer("A", opening=("2026-03-01", "100"))
    world.read("A", "2026-03-20", "150")

    def counts() -> tuple[int, int, int]:
        with world.sessions.begin() as s:
            return tuple(s.execute(select(func.count()).select_from(m)).scalar_one()  # type: ignore[return-value]
                         for m in (MeterReading, MeteringBill, LedgerPosting))

    before = counts()
    for text, code in (("A,MA,2026-03-25,-10\n", "invalid_reading"),     # negative kWh register
                       ("A,MA,2026-03-25,140\n", "decreasing_reading"),  # decreasing reading
                       ("A,XX,2026-03-25,160\n", "unknown_meter"),       # unknown meter
                       ("A,MA,2026-03-25,160\nA,MA,2026-03-26,1e3\n", "invalid_reading")):  # one good, one bad
        with pytest.raises(ReadingsRejected) as e, world.sessions.begin() as s:
            import_readings_file(s, io.BytesIO(text.encode()), file_name="bad.csv", now=at("2026-03-31"),
                                 actor="t")
        assert e.value.errors[-1].code == code
        assert counts() == before
    world.bill("2026-03", "2026-03-31")
    assert world.bills("A")[0].kwh_ckwh == 5000  # only the good reading of 2026-03-20 was billed
