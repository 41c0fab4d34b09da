"""Configuration of billing, cost control and collection warnings.

Everything the rules leave to the local utility is a setting here:

setting                                environment variable         default
=====================================  ===========================  =====================================
days from bill date to due date        VOUCHER_BILL_DUE_DAYS        7 (the fee runs from the 8th day, R8)
low-balance warning (yuan)             VOUCHER_LOW_BALANCE_WARNING  30.00 (China Southern Grid; 50.00 is
                                                                    the Shandong figure)
days between zero notice and cut-off   VOUCHER_DISCONNECT_NOTICE_   1 (Fujian: next day; Shandong: 7)
                                       DAYS
local hour of the cut-off              VOUCHER_DISCONNECT_HOUR      8 (around 08:00, Fujian)
red: days past due                     VOUCHER_RED_DAYS_PAST_DUE    30 (the Art. 39 gate)
red: large customer arrears (yuan)     VOUCHER_RED_LARGE_CUSTOMER   10000.00
yellow: late payments in 12 months     VOUCHER_YELLOW_LATE_PAYMENTS 2
blue: days to zero                     VOUCHER_BLUE_DAYS_TO_ZERO    3
accounts per billing batch             VOUCHER_BILLING_BATCH        5000
billing threads (PostgreSQL only)      VOUCHER_BILLING_WORKERS      2
business time zone                     VOUCHER_TIMEZONE             Asia/Shanghai
=====================================  ===========================  =====================================

They are read once at the edge (``vouchers.config`` builds ``Settings.metering``
from the configuration file and the ``VOUCHER_*`` variables) and passed to the
services. The keys, their defaults (docs/tariffs.md §3-§4) and
their meaning are rows of docs/configuration.md (``billing.*``,
``cost_control.*``, ``collection.*``, ``timezone``).
"""
from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

from vouchers.metering.errors import ConfigError


@dataclass(frozen=True)
class MeteringConfig:
    timezone: str = "Asia/Shanghai"
    due_days: int = 7
    warning_threshold_fen: int = 3000
    notice_days: int = 1
    disconnect_hour: int = 8
    red_days_past_due: int = 30
    red_large_customer_fen: int = 1_000_000
    yellow_late_payments: int = 2
    blue_days_to_zero: int = 3
    batch_size: int = 5000
    billing_workers: int = 2

    def __post_init__(self) -> None:
        try:
            zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as e:
            raise ConfigError(f"unknown time zone {self.timezone!r}") from e
        for name, low, high in (("due_days", 0, 366), ("warning_threshold_fen", 0, 10**12),
                                ("notice_days", 0, 60), ("disconnect_hour", 0, 23),
                                ("red_days_past_due", 0, 3660), ("red_large_customer_fen", 0, 10**14),
                                ("yellow_late_payments", 1, 365), ("blue_days_to_zero", 0, 365),
                                ("batch_size", 1, 100_000), ("billing_workers", 1, 16)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ConfigError(f"{name} must be a whole number from {low} to {high}, got {value!r}")

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def local_date(self, now: dt.datetime) -> dt.date:
        if now.tzinfo is None:
            raise ValueError("naive datetime: pass an aware datetime")
        return now.astimezone(self.tz).date()

    def local_time(self, day: dt.date, hour: int = 0) -> dt.datetime:
        """The aware UTC instant of ``hour``:00 local on ``day``."""
        return dt.datetime.combine(day, dt.time(hour), tzinfo=self.tz).astimezone(dt.UTC)
