"""kWh -> money: the bill for one reading (a quote).

``cost(c0, k) = sum_i p_i * max(0, min(c0 + k, U_i) - max(c0, U_(i-1)))``
with ``c0`` the kWh already counted in the tariff period (``used_before``).
Time-of-use adds a flat adjustment per peak/valley kWh on top of the tiers;
the low-income allowance is valued at the tier-1 price. Every line is exact;
the total is rounded once, half-up to the fen.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, localcontext
from typing import Literal

from vouchers.tariffs.errors import TimeOfUseSplitError
from vouchers.tariffs.model import TariffVersion, Tier
from vouchers.tariffs.quantities import ZERO, parse_kwh, round_fen

LineKind = Literal["energy", "time_of_use", "allowance"]

# Exact arithmetic: inputs are capped (see tariffs.quantities) so products and
# sums of them never need more digits than this.
_PRECISION = 60


@dataclass(frozen=True, slots=True)
class TierUse:
    """kWh of one reading that fall into one tier."""

    tier: Tier
    kwh: Decimal


@dataclass(frozen=True, slots=True)
class QuoteLine:
    """One line of a bill. ``tier`` is the tier number as text (``"1"``...) for
    energy lines, ``"peak"``/``"valley"`` for time-of-use adjustments and
    ``"allowance"`` for the low-income deduction. ``amount = kwh * price``,
    exact (never rounded); credits have a negative price."""

    tier: str
    kind: LineKind
    kwh: Decimal
    price: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Quote:
    tariff_id: str
    version_from: date
    kwh: Decimal
    used_before: Decimal
    months_of_supply: int
    lines: tuple[QuoteLine, ...]
    subtotal: Decimal  # exact sum of the lines
    total: Decimal  # subtotal rounded half-up to the fen: what is billed
    allowance_kwh: Decimal = ZERO  # free kWh granted on this bill (either mode)
    allowance_refund: Decimal = Decimal("0.00")  # refund-mode value, rounded to the fen; not in total
    currency: str = "CNY"

    @property
    def total_fen(self) -> int:
        """The total in integer minor units, for posting to the ledger."""
        return int(self.total.scaleb(2))

    @property
    def allowance_refund_fen(self) -> int:
        return int(self.allowance_refund.scaleb(2))

    @property
    def energy_lines(self) -> tuple[QuoteLine, ...]:
        return tuple(line for line in self.lines if line.kind == "energy")


def split_into_tiers(
    version: TariffVersion,
    kwh: Decimal | int | str,
    *,
    used_before: Decimal | int | str = 0,
    months_of_supply: int | None = None,
) -> tuple[TierUse, ...]:
    """The kWh of this reading per tier, starting at position ``used_before`` in
    the tariff period. Tiers that receive nothing are left out; the kWh of the
    result always add up to ``kwh``."""
    k = parse_kwh(kwh, "kWh")
    c0 = parse_kwh(used_before, "kWh used before")
    bounds = version.bounds(months_of_supply)
    end = c0 + k
    uses: list[TierUse] = []
    lower = ZERO
    for tier, upper in zip(version.tiers, bounds):
        top = end if upper is None else min(end, upper)
        share = top - max(c0, lower)
        if share > 0:
            uses.append(TierUse(tier, share))
        if upper is None or upper >= end:
            break
        lower = upper
    return tuple(uses)


def quote(
    version: TariffVersion,
    kwh: Decimal | int | str,
    *,
    used_before: Decimal | int | str = 0,
    months_of_supply: int | None = None,
    peak: Decimal | int | str | None = None,
    valley: Decimal | int | str | None = None,
    low_income: bool = False,
) -> Quote:
    """Price one reading of ``kwh`` under ``version``.

    ``used_before``: kWh already billed in the current tariff period (the
    tariff year for annual tiers, the month for monthly ones).
    ``months_of_supply``: months of the period the account is supplied (new,
    closed or transferred accounts); scales the tier bounds. Default: full.
    ``peak``/``valley``: the time-of-use split of ``kwh``; both or neither,
    and they must add up to ``kwh``.
    ``low_income``: apply the version's low-income allowance for one month.
    """
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        k = parse_kwh(kwh, "kWh")
        c0 = parse_kwh(used_before, "kWh used before")
        months = version.months_of_supply(months_of_supply)
        lines: list[QuoteLine] = [
            QuoteLine(str(use.tier.number), "energy", use.kwh, use.tier.price, use.kwh * use.tier.price)
            for use in split_into_tiers(version, k, used_before=c0, months_of_supply=months)
        ]
        lines.extend(_time_of_use_lines(version, k, peak, valley))

        allowance_kwh = ZERO
        refund = Decimal("0.00")
        if low_income:
            allowance = version.require_allowance()
            allowance_kwh = min(allowance.kwh_per_month, k)
            tier1_price = version.tiers[0].price
            if allowance_kwh > 0:
                if allowance.mode == "deduct":
                    lines.append(QuoteLine("allowance", "allowance", allowance_kwh, -tier1_price,
                                           -(allowance_kwh * tier1_price)))
                else:
                    refund = round_fen(allowance_kwh * tier1_price)

        subtotal = sum((line.amount for line in lines), ZERO)
        return Quote(
            tariff_id=version.tariff_id,
            version_from=version.effective_from,
            kwh=k,
            used_before=c0,
            months_of_supply=months,
            lines=tuple(lines),
            subtotal=subtotal,
            total=round_fen(subtotal),
            allowance_kwh=allowance_kwh,
            allowance_refund=refund,
        )


def _time_of_use_lines(
    version: TariffVersion,
    kwh: Decimal,
    peak: Decimal | int | str | None,
    valley: Decimal | int | str | None,
) -> list[QuoteLine]:
    if peak is None and valley is None:
        return []
    if peak is None or valley is None:
        raise TimeOfUseSplitError("time-of-use needs both the peak and the valley kWh")
    tou = version.require_time_of_use()
    peak_kwh = parse_kwh(peak, "peak kWh")
    valley_kwh = parse_kwh(valley, "valley kWh")
    if peak_kwh + valley_kwh != kwh:
        raise TimeOfUseSplitError(
            f"peak {peak_kwh} + valley {valley_kwh} kWh must equal the consumption of {kwh} kWh"
        )
    lines = []
    if peak_kwh > 0:
        lines.append(QuoteLine("peak", "time_of_use", peak_kwh, tou.peak_adjustment,
                               peak_kwh * tou.peak_adjustment))
    if valley_kwh > 0:
        lines.append(QuoteLine("valley", "time_of_use", valley_kwh, tou.valley_adjustment,
                               valley_kwh * tou.valley_adjustment))
    return lines
