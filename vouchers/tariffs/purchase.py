"""Money -> kWh: how much electricity an amount buys.

The answer is the largest ``x`` (a multiple of 0.01 kWh) with
``cost(used_before, x) <= amount``, computed exactly: walk the tiers from the
current position, buy out each tier's remaining room while the money lasts,
then buy ``floor(rest / price)`` in 0.01 kWh steps in the tier where it runs
out. The comparison is against the exact (unrounded) cost, so the rounded bill
of the answer never exceeds the amount either.
"""
from __future__ import annotations

from decimal import Decimal, localcontext

from vouchers.tariffs.model import TariffVersion
from vouchers.tariffs.quantities import CENTI_KWH, ZERO, parse_amount, parse_kwh

_PRECISION = 60


def kwh_for_amount(
    version: TariffVersion,
    amount: Decimal | int | str,
    *,
    used_before: Decimal | int | str = 0,
    months_of_supply: int | None = None,
    time_of_use: bool = False,
) -> Decimal:
    """The most kWh ``amount`` buys from position ``used_before`` in the tariff
    period, rounded down to 0.01 kWh (always returned with two decimals).

    ``time_of_use=True`` prices every kWh at the peak price (tier price plus
    the peak adjustment): the conservative figure for a time-of-use customer,
    whose real split is unknown in advance. The low-income allowance is not
    taken into account.
    """
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        budget = parse_amount(amount)
        c0 = parse_kwh(used_before, "kWh used before")
        adjustment = version.require_time_of_use().peak_adjustment if time_of_use else ZERO
        bounds = version.bounds(months_of_supply)

        bought = ZERO
        lower = ZERO
        for tier, upper in zip(version.tiers, bounds):
            price = tier.price + adjustment
            start = max(c0, lower)
            if upper is not None and start >= upper:
                lower = upper
                continue
            if upper is not None:
                room = upper - start
                room_cost = room * price
                if room_cost <= budget:
                    bought += room
                    budget -= room_cost
                    lower = upper
                    continue
            # The money runs out in this tier: whole hundredths of a kWh only.
            # Decimal's // truncates exactly; no rounded quotient is involved.
            hundredths = (budget * 100) // price
            bought += hundredths * CENTI_KWH
            break
        return bought.quantize(CENTI_KWH)
