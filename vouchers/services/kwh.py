"""The kWh figures shown with a prepaid account's money (display only: they never refuse a payment).

New response fields, present only for prepaid accounts with a tariff
assignment (never null): ``available_balance``, ``available_kwh``,
``credited_kwh`` (what the money credited buys, or the token's tariff kWh),
``kwh_tariff`` and ``kwh_basis``. The figures are
:func:`vouchers.metering.prepaid.kwh_fields`; this module renames ``amount_kwh`` and
puts a cheap gate in front (one primary-key lookup, skipped when the caller
already knows the payment mode).
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from vouchers.metering.errors import MeteringError
from vouchers.metering.prepaid import kwh_fields
from vouchers.storage.metering_models import MeteringAccount
from vouchers.tariffs.errors import TariffError
from vouchers.services.deps import ServiceDeps

log = logging.getLogger(__name__)
KWH_FIELDS = ("available_balance", "available_kwh", "credited_kwh", "kwh_tariff", "kwh_basis")

_PAYMENT_MODE = select(MeteringAccount.payment_mode).where(MeteringAccount.account_no == bindparam("no"))


def kwh_figures(session: Session, account_no: str, deps: ServiceDeps, *, now: dt.datetime,
                credited_minor: int | None = None, prepaid: bool | None = None,
                sts: Mapping[str, object] | None = None) -> dict[str, str]:
    """The kWh fields of ``account_no`` (``{}`` unless a prepaid account its tariff can price).

    Call it after the money is booked (and vended), in that transaction.
    ``prepaid``: whether the account has a prepaid tariff assignment, if known
    (None looks it up). ``sts``: the token just vended for the money, whose
    tariff kWh are then ``credited_kwh`` (the tier position already includes them).
    """
    if prepaid is False:
        return {}
    if prepaid is None and session.execute(_PAYMENT_MODE, {"no": account_no}).scalar_one_or_none() != "prepaid":
        return {}
    try:
        fields = kwh_fields(session, account_no, now=now, catalog=deps.catalog, amount_minor=credited_minor,
                            config=deps.metering)
    except (MeteringError, TariffError) as e:
        log.warning("no kWh figures for account %s: %s", account_no, type(e).__name__)
        return {}
    if not fields:
        return {}
    figures = {"available_balance": fields["available_balance"], "available_kwh": fields["available_kwh"]}
    if sts is not None and sts.get("tariff_kwh") is not None:
        figures["credited_kwh"] = str(sts["tariff_kwh"])
    elif credited_minor is not None and "amount_kwh" in fields:
        figures["credited_kwh"] = fields["amount_kwh"]
    figures["kwh_tariff"] = fields["kwh_tariff"]
    figures["kwh_basis"] = fields["kwh_basis"]
    return figures
