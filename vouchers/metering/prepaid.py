"""Prepaid accounts: available balance and money <-> kWh.

Under smart payment (智能交费) the balance is money, not kWh (docs/tariffs.md §3):

    available balance (可用余额) = prepaid balance − arrears − month-to-date estimate

where the estimate prices the readings not billed yet (daily readings of a
smart meter) at the account's tariff position. Any kWh shown to the customer
is derived: the largest kWh, to 0.01 rounded down, whose exact cost from the
account's current position in its tariff period is at most the money
(:func:`vouchers.tariffs.kwh_for_amount`). Time-of-use accounts are priced as if every
kWh were at the peak price, the conservative figure.

Accounts with an active STS keypad meter have no estimate: the energy they
use was paid for when its token was vended (:mod:`vouchers.vending`), so their
readings are not money owed (billing skips them for the same reason).

:func:`kwh_fields` is what the redemption / payment responses, the web page
and ``GET /api/v1/accounts/<no>`` add (new fields only).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.orm import Session

from vouchers.metering import positions as pos
from vouchers.metering.config import MeteringConfig
from vouchers.metering.errors import BillingError
from vouchers.metering.pricing import compute_bill, months_of_supply, position_in_period
from vouchers.tariffs import Catalog, kwh_for_amount
from vouchers.tariffs.errors import TariffError
from vouchers.money import format_amount, to_decimal


@dataclass(frozen=True)
class Standing:
    """Where a metered account stands on one day."""

    account_no: str
    payment_mode: str
    prepaid_fen: int
    arrears_fen: int
    estimate_fen: int  # unbilled consumption priced at the tariff
    unbilled_ckwh: int
    available_fen: int  # prepaid - arrears - estimate
    tariff_label: str | None = None
    used_in_period_ckwh: int = 0  # billed + unbilled (keypad meter: vended) kWh in the current tariff period


def estimate_fen(position: pos.Position, catalog: Catalog) -> int:
    """The unbilled readings priced at the tariff (0 when nothing was consumed, they cannot be priced, or the
    account has an STS keypad meter: its energy was paid for by token)."""
    if position.keypad or not any(r.kwh_ckwh for r in position.unbilled):
        return 0
    try:
        tariff = catalog.get(position.tariff_id)
        return compute_bill(tariff, position, position.unbilled, position.used_in_periods(tariff)).total_fen
    except (TariffError, BillingError):
        return 0


def standing_of(position: pos.Position, catalog: Catalog, today: dt.date) -> Standing:
    estimate = estimate_fen(position, catalog)
    label = None
    used = 0
    try:
        tariff = catalog.get(position.tariff_id)
        version, _, used = position_in_period(tariff, today, position.period_uses, position.used_in_periods(tariff))
        label = version.label
    except TariffError:
        pass
    return Standing(position.account_no, position.payment_mode, position.prepaid_fen, position.arrears_fen, estimate,
                    sum(r.kwh_ckwh for r in position.unbilled), position.prepaid_fen - position.arrears_fen - estimate,
                    label, used)


def standing(session: Session, account_no: str, *, now: dt.datetime, catalog: Catalog,
             config: MeteringConfig | None = None) -> Standing | None:
    """The account's standing today; None if the account has no tariff assignment."""
    config = config or MeteringConfig()
    today = config.local_date(now)
    found = pos.load(session, [account_no], cutoff=today, tz=config.tz)
    if not found:
        return None
    return standing_of(found[0], catalog, today)


def kwh_for_money(position: pos.Position, amount_fen: int, catalog: Catalog, today: dt.date) -> Decimal:
    """kWh that ``amount_fen`` buys from the account's position today (0 for a non-positive amount)."""
    tariff = catalog.get(position.tariff_id)
    version, period, used = position_in_period(tariff, today, position.period_uses, position.used_in_periods(tariff))
    if amount_fen <= 0:
        return Decimal("0.00")
    months = months_of_supply(period, position.supply_start, position.supply_end)
    return kwh_for_amount(version, to_decimal(amount_fen), used_before=Decimal(used).scaleb(-2),
                          months_of_supply=None if months >= version.period_months else months,
                          time_of_use=position.time_of_use)


def kwh_fields(session: Session, account_no: str, *, now: dt.datetime, catalog: Catalog,
               amount_minor: int | None = None, config: MeteringConfig | None = None) -> dict[str, str]:
    """Extra response fields for a prepaid account, as decimal strings:

    * ``available_balance``: prepaid balance − arrears − month-to-date estimate;
    * ``available_kwh``: kWh the available balance buys (0.00 when it is not positive);
    * ``amount_kwh`` (only with ``amount_minor``): kWh that amount buys from the
      current position, e.g. the value of a card just redeemed;
    * ``kwh_tariff``: the tariff version used, ``kwh_basis``: ``tier`` or ``peak``.

    Returns ``{}`` for postpaid or unmetered accounts, or when the tariff
    cannot price today (never raises for those: the response goes out without
    kWh fields).
    """
    config = config or MeteringConfig()
    today = config.local_date(now)
    found = pos.load(session, [account_no], cutoff=today, tz=config.tz)
    if not found or found[0].payment_mode != "prepaid":
        return {}
    position = found[0]
    try:
        state = standing_of(position, catalog, today)
        fields = {
            "available_balance": format_amount(state.available_fen),
            "available_kwh": format(kwh_for_money(position, state.available_fen, catalog, today), "f"),
        }
        if amount_minor is not None:
            fields["amount_kwh"] = format(kwh_for_money(position, int(amount_minor), catalog, today), "f")
        fields["kwh_tariff"] = state.tariff_label or ""
        fields["kwh_basis"] = "peak" if position.time_of_use else "tier"
        return fields
    except TariffError:
        return {}


__all__ = ["Standing", "estimate_fen", "kwh_fields", "kwh_for_money", "standing",
           "standing_of"]
