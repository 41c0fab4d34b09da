"""A small world for the billing tests: customers with tariffs, readings, payments."""
from __future__ import annotations

import datetime as dt
import itertools
import zoneinfo
from dataclasses import dataclass, field

import pytest
from sqlalchemy.orm import Session, sessionmaker

from vouchers.books import customers
from vouchers.books.payments import PaymentResult, post_payment
from vouchers.metering import billing
from vouchers.metering.accounts import assign_tariff
from vouchers.metering.config import MeteringConfig
from vouchers.metering.readings import ReadingInput, RecordResult, record_readings
from vouchers.metering.units import parse_register
from vouchers.storage.sts_models import StsMeter
from vouchers.tariffs import Catalog, load_catalog

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
CATALOG = load_catalog()


def at(day: str, hour: int = 12) -> dt.datetime:
    """Noon (by default) on a local day, as an aware datetime."""
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour), tzinfo=SHANGHAI)


def yuan(text: str) -> int:
    whole, _, frac = text.partition(".")
    sign = -1 if whole.startswith("-") else 1
    return sign * (abs(int(whole)) * 100 + int(frac.ljust(2, "0")))


@dataclass
class World:
    sessions: sessionmaker[Session]
    catalog: Catalog = CATALOG
    config: MeteringConfig = field(default_factory=MeteringConfig)
    _refs: itertools.count = field(default_factory=lambda: itertools.count(1))

    def customer(self, account_no: str, *, tariff: str = "fj-residential", mode: str = "postpaid",
                 customer_class: str = "residential", area: str = "Xiamen", meter: str | None = None,
                 opening: tuple[str, str] | None = ("2026-01-01", "0"), low_income: bool = False,
                 time_of_use: bool = False, large_customer: bool = False, supply_start: str | None = None,
                 supply_end: str | None = None, opening_tou: tuple[str, str] | None = None,
                 warning_threshold: int | None = None, created: str | None = None) -> str:
        created = created or (opening[0] if opening else "2026-01-01")
        assigned = max(created, opening[0]) if opening else created
        with self.sessions.begin() as s:
            customers.create_customer(s, account_no, f"Customer {account_no}", now=at(created))
            assign_tariff(
                s, account_no, tariff_id=tariff, customer_class=customer_class, payment_mode=mode, area=area,
                meter_no=meter or f"M{account_no}", catalog=self.catalog, now=at(assigned), low_income=low_income,
                time_of_use=time_of_use, large_customer=large_customer,
                supply_start=dt.date.fromisoformat(supply_start) if supply_start else None,
                supply_end=dt.date.fromisoformat(supply_end) if supply_end else None,
                warning_threshold=warning_threshold,
                opening_reading_ckwh=parse_register(opening[1]) if opening else None,
                opening_date=dt.date.fromisoformat(opening[0]) if opening else None,
                opening_peak_ckwh=parse_register(opening_tou[0]) if opening_tou else None,
                opening_valley_ckwh=parse_register(opening_tou[1]) if opening_tou else None)
        return account_no

    def read(self, account_no: str, day: str, reading: str, *, meter: str | None = None, peak: str | None = None,
             valley: str | None = None, replacement: bool = False, now: dt.datetime | None = None) -> RecordResult:
        return self.read_many([(account_no, meter or f"M{account_no}", day, reading, peak, valley, replacement)],
                              now=now)

    def read_many(self, rows, *, now: dt.datetime | None = None) -> RecordResult:  # type: ignore[no-untyped-def]
        items = [ReadingInput(a, m, dt.date.fromisoformat(d), parse_register(r),
                              parse_register(p) if p else None, parse_register(v) if v else None, bool(rep), i)
                 for i, (a, m, d, r, p, v, rep) in enumerate(rows, start=1)]
        latest = max(dt.date.fromisoformat(row[2]) for row in rows)
        with self.sessions.begin() as s:
            return record_readings(s, items, now=now or at(latest.isoformat(), 20))

    def pay(self, account_no: str, amount: str, day: str, *, channel: str = "counter_cash",
            hour: int = 12) -> PaymentResult:
        with self.sessions.begin() as s:
            return post_payment(s, channel, account_no, yuan(amount), f"P{next(self._refs)}", at(day, hour),
                                at(day, hour))

    def bill(self, period: str, as_of: str, *, accounts: list[str] | None = None,
             now: dt.datetime | None = None) -> billing.RunResult:
        return billing.run_billing(self.sessions, period, as_of=dt.date.fromisoformat(as_of),
                                   now=now or at(as_of, 18), catalog=self.catalog, config=self.config,
                                   account_nos=accounts)

    def bills(self, account_no: str) -> list[billing.BillView]:
        with self.sessions.begin() as s:
            return list(reversed(billing.bills_of(s, account_no)))

    def sts_meter(self, account_no: str, pan: str, *, active: bool = True) -> None:
        """The meter record :func:`vouchers.vending.meters.add_meter` writes, inserted directly (metering is under test)."""
        with self.sessions.begin() as s:
            s.add(StsMeter(pan=pan, account_no=account_no, sgc=123457, ti=1, krn=1, key_type=2, ken=255,
                           base_date=2014, ea=11, active=active, last_tid=None, created_at=at("2026-10-01"),
                           updated_at=at("2026-10-01")))

    def summary(self, account_no: str) -> customers.AccountSummary:
        with self.sessions.begin() as s:
            return customers.customer_summary(s, account_no)


@pytest.fixture
def world(sessions) -> World:
    return World(sessions)
