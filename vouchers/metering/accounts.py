"""Tariff assignment: how a customer account (户号) is billed.

The account itself (name, balances, bills) belongs to the books
(:func:`vouchers.books.customers.create_customer`); this module stores, beside it,
the tariff, the customer class for late fees, prepaid or postpaid, the
low-income and time-of-use options, the area for the collection analysis and
the meter that is read.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from vouchers.books.customers import get_customer
from vouchers.metering.errors import InvalidAssignment, InvalidReading, MeterInUse, NotAssigned, UnknownTariff
from vouchers.metering.units import format_kwh
from vouchers.storage import audit
from vouchers.storage.metering_models import (
    CUSTOMER_CLASSES,
    PAYMENT_MODES,
    Meter,
    MeteringAccount,
    MeterReading,
)
from vouchers.tariffs import Catalog
from vouchers.tariffs.errors import TariffError

METER_NO = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_.\-]{0,63}$")
AREA = re.compile(r"^[^\x00-\x1f,]{1,64}$")


@dataclass(frozen=True)
class Assignment:
    account_no: str
    tariff_id: str
    customer_class: str
    payment_mode: str
    low_income: bool
    time_of_use: bool
    large_customer: bool
    area: str
    meter_no: str
    supply_start: dt.date | None
    supply_end: dt.date | None
    warning_threshold: int | None

    def as_dict(self) -> dict[str, object]:
        return {
            "account_no": self.account_no, "tariff": self.tariff_id, "customer_class": self.customer_class,
            "payment_mode": self.payment_mode, "low_income": self.low_income, "time_of_use": self.time_of_use,
            "large_customer": self.large_customer, "area": self.area, "meter_no": self.meter_no,
            "supply_start": self.supply_start.isoformat() if self.supply_start else None,
            "supply_end": self.supply_end.isoformat() if self.supply_end else None,
            "warning_threshold": self.warning_threshold,
        }


def _view(row: MeteringAccount) -> Assignment:
    return Assignment(row.account_no, row.tariff_id, row.customer_class, row.payment_mode, bool(row.low_income),
                      bool(row.time_of_use), bool(row.large_customer), row.area, row.meter_no, row.supply_start,
                      row.supply_end, row.warning_threshold)


def validate_meter_no(meter_no: str) -> str:
    if not isinstance(meter_no, str) or not METER_NO.match(meter_no):
        raise InvalidAssignment(f"invalid meter number {meter_no!r}: 1-64 letters, digits, _ . -")
    return meter_no


def _check_tariff(catalog: Catalog, tariff_id: str, *, low_income: bool, time_of_use: bool) -> None:
    try:
        tariff = catalog.get(tariff_id)
    except TariffError as e:
        raise UnknownTariff(str(e)) from e
    current = tariff.current
    if low_income and current.allowance is None:
        raise InvalidAssignment(f"tariff {tariff_id} has no low-income allowance")
    if time_of_use and current.time_of_use is None:
        raise InvalidAssignment(f"tariff {tariff_id} offers no time-of-use pricing")


def get_assignment(session: Session, account_no: str) -> Assignment:
    row = session.get(MeteringAccount, account_no) if isinstance(account_no, str) else None
    if row is None:
        raise NotAssigned(f"account {account_no!r} has no tariff assignment")
    return _view(row)


def find_assignment(session: Session, account_no: str) -> Assignment | None:
    row = session.get(MeteringAccount, account_no) if isinstance(account_no, str) else None
    return None if row is None else _view(row)


def assign_tariff(session: Session, account_no: str, *, tariff_id: str, customer_class: str, payment_mode: str,
                  area: str, meter_no: str, catalog: Catalog, now: dt.datetime, low_income: bool = False,
                  time_of_use: bool = False, large_customer: bool = False, supply_start: dt.date | None = None,
                  supply_end: dt.date | None = None, warning_threshold: int | None = None,
                  opening_reading_ckwh: int | None = None, opening_date: dt.date | None = None,
                  opening_peak_ckwh: int | None = None, opening_valley_ckwh: int | None = None,
                  actor: str = "system") -> Assignment:
    """Create or change the tariff assignment of an existing customer account.

    The meter of an assigned account is changed only by a meter-replacement
    reading, never here. ``opening_reading_ckwh`` records the meter's first
    reading (the baseline; it bills nothing).
    """
    get_customer(session, account_no)  # UnknownAccount if the books do not know it
    if customer_class not in CUSTOMER_CLASSES:
        raise InvalidAssignment(f"customer class must be one of {', '.join(CUSTOMER_CLASSES)}, "
                                f"got {customer_class!r}")
    if payment_mode not in PAYMENT_MODES:
        raise InvalidAssignment(f"payment mode must be one of {', '.join(PAYMENT_MODES)}, got {payment_mode!r}")
    if not isinstance(area, str) or not AREA.match(area.strip() or "\x00"):
        raise InvalidAssignment("area is required: 1-64 characters, no commas or control characters")
    area = area.strip()
    validate_meter_no(meter_no)
    for name, flag in (("low_income", low_income), ("time_of_use", time_of_use), ("large_customer", large_customer)):
        if not isinstance(flag, bool):
            raise InvalidAssignment(f"{name} must be true or false")
    if warning_threshold is not None and (isinstance(warning_threshold, bool) or not isinstance(warning_threshold, int)
                                          or warning_threshold < 0):
        raise InvalidAssignment("warning threshold must be zero or a positive amount of fen")
    if supply_start is not None and supply_end is not None and supply_end < supply_start:
        raise InvalidAssignment("supply end is before supply start")
    _check_tariff(catalog, tariff_id, low_income=low_income, time_of_use=time_of_use)

    meter = session.get(Meter, meter_no)
    if meter is not None and meter.account_no != account_no:
        raise MeterInUse(f"meter {meter_no} belongs to account {meter.account_no}")
    row = session.get(MeteringAccount, account_no)
    before = None if row is None else _view(row).as_dict()
    created = row is None
    if row is None:
        if meter is not None:  # pragma: no cover - meters exist only for assigned accounts
            raise MeterInUse(f"meter {meter_no} is already registered")
        row = MeteringAccount(account_no=account_no, meter_no=meter_no, created_at=now)
    elif row.meter_no != meter_no:
        raise InvalidAssignment(f"account {account_no} is read on meter {row.meter_no}; a new meter is "
                                "recorded by a meter-replacement reading")
    row.tariff_id = tariff_id
    row.customer_class = customer_class
    row.payment_mode = payment_mode
    row.low_income = low_income
    row.time_of_use = time_of_use
    row.large_customer = large_customer
    row.area = area
    row.supply_start = supply_start
    row.supply_end = supply_end
    row.warning_threshold = warning_threshold
    row.updated_at = now
    if created:
        session.add(row)
        session.flush()
        session.add(Meter(meter_no=meter_no, account_no=account_no, installed_on=opening_date or supply_start))
    session.flush()
    if opening_reading_ckwh is not None:
        _opening_reading(session, account_no, meter_no, opening_date, opening_reading_ckwh, opening_peak_ckwh,
                         opening_valley_ckwh, time_of_use, now)
    after = _view(row)
    audit.record(session, now=now, actor=actor, action="metering.assign", subject_type="account",
                 subject_id=account_no, from_state=None if before is None else before["tariff"],
                 to_state=tariff_id, details={"before": before, "after": after.as_dict()})
    return after


def _opening_reading(session: Session, account_no: str, meter_no: str, day: dt.date | None, ckwh: int,
                     peak: int | None, valley: int | None, time_of_use: bool, now: dt.datetime) -> None:
    from vouchers.metering.readings import ReadingInput, check_baseline_registers, record_readings

    if day is None:
        raise InvalidAssignment("an opening reading needs its date")
    if time_of_use and (peak is None or valley is None):
        raise InvalidAssignment("a time-of-use account's opening reading needs the peak and valley registers")
    try:
        check_baseline_registers(ckwh, peak, valley)
    except InvalidReading as e:
        raise InvalidAssignment(f"opening reading: {e}") from e
    existing = session.execute(select(MeterReading.id).where(MeterReading.account_no == account_no).limit(1)).first()
    if existing is not None:
        raise InvalidAssignment(f"account {account_no} already has readings; the opening reading "
                                f"{format_kwh(ckwh)} was not recorded")
    record_readings(session, [ReadingInput(account_no, meter_no, day, ckwh, peak, valley)], now=now,
                    source="opening")
