"""Electricity tariffs: tiered prices, money <-> kWh, late-payment penalties.

Pure: no database, no web, no clock. Tariff definitions are versioned data
files (``tariffs/data/*.toml``) validated on load; arithmetic is exact
``Decimal`` with one half-up rounding of a bill's total to the fen.

Typical use by a billing service::

    catalog = load_catalog()                     # once, at start-up
    version = catalog.get("jx-residential").version_for(reading_date)
    bill = quote(version, kwh, used_before=kwh_billed_this_tariff_year)
    bill.total, bill.total_fen, bill.lines

    kwh_for_amount(version, Decimal("100.00"), used_before=...)
    late_fee_between(catalog.require_late_fees(), principal=..., due_date=...,
                     pay_date=..., customer_class="residential")
"""
from __future__ import annotations

from vouchers.tariffs.catalog import Catalog
from vouchers.tariffs.errors import TariffError
from vouchers.tariffs.late_fees import (
    LateFee,
    LateFeePolicy,
    LateFeeRates,
    LateFeeSchedule,
    late_fee,
    late_fee_between,
)
from vouchers.tariffs.loader import default_data_dir, load_catalog
from vouchers.tariffs.model import Allowance, BillingPeriod, Tariff, TariffVersion, Tier, TimeOfUse
from vouchers.tariffs.pricing import Quote, QuoteLine, TierUse, quote, split_into_tiers
from vouchers.tariffs.purchase import kwh_for_amount

__all__ = [
    "Allowance",
    "BillingPeriod",
    "Catalog",
    "LateFee",
    "LateFeePolicy",
    "LateFeeRates",
    "LateFeeSchedule",
    "Quote",
    "QuoteLine",
    "Tariff",
    "TariffError",
    "TariffVersion",
    "Tier",
    "TierUse",
    "TimeOfUse",
    "default_data_dir",
    "kwh_for_amount",
    "late_fee",
    "late_fee_between",
    "load_catalog",
    "quote",
    "split_into_tiers",
]
