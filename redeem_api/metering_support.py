"""Metering in the API: the tariff catalogue, the metering configuration and the kWh fields.

:func:`install` is called once by :func:`redeem_api.app.create_app` (a bad
tariff directory or metering setting fails at start-up, never on a request).
Request code reaches it through :func:`support`.

kWh fields (issue 7, "money <-> kWh" for prepaid customers) are NEW response
fields, added only for prepaid accounts with a tariff assignment and left
out for every other account (never null):

* ``available_balance``: prepaid balance - arrears - month-to-date estimate;
* ``available_kwh``: the kWh that available balance buys from the account's
  position in its tariff period (rounded down to 0.01; ``"0.00"`` when the
  available balance is not positive);
* ``credited_kwh`` (redemptions and payments): the kWh the money credited to
  the balance buys from the same position;
* ``kwh_tariff``: the tariff version used; ``kwh_basis``: ``tier`` (the
  account's tier position) or ``peak`` (time-of-use accounts, priced all at
  the peak price: the conservative figure).

The figures are :func:`vouchers.metering.prepaid.kwh_fields`, exactly; this module
only renames ``amount_kwh`` to ``credited_kwh`` and puts a cheap gate in
front: one primary-key lookup decides whether the account is prepaid, so
accounts without a tariff (and postpaid ones) cost one query and nothing
else on the redemption hot path.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from flask import Flask, current_app, has_app_context
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from vouchers.metering.config import MeteringConfig
from vouchers.metering.errors import MeteringError
from vouchers.metering.prepaid import kwh_fields as metering_kwh_fields
from vouchers.storage.metering_models import MeteringAccount
from vouchers.tariffs import Catalog, load_catalog
from vouchers.tariffs.errors import TariffError

log = logging.getLogger(__name__)
EXTENSION = "vouchers_metering"
KWH_FIELDS = ("available_balance", "available_kwh", "credited_kwh", "kwh_tariff", "kwh_basis")

_PAYMENT_MODE = select(MeteringAccount.payment_mode).where(MeteringAccount.account_no == bindparam("no"))


@dataclass(frozen=True)
class MeteringSupport:
    catalog: Catalog
    config: MeteringConfig


def install(app: Flask, env: Mapping[str, str]) -> MeteringSupport:
    """Load the tariff catalogue (``VOUCHER_TARIFF_DIR`` or the shipped data) and the metering settings."""
    found = MeteringSupport(catalog=load_catalog(env.get("VOUCHER_TARIFF_DIR") or None),
                            config=MeteringConfig.from_env(env))
    app.extensions[EXTENSION] = found
    return found


def support() -> MeteringSupport:
    return current_app.extensions[EXTENSION]


def kwh_document(session: Session, account_no: str, *, now: dt.datetime, credited_minor: int | None = None,
                 prepaid: bool | None = None, sts: dict[str, object] | None = None) -> dict[str, str]:
    """The kWh fields of ``account_no`` (``{}`` unless it is a prepaid account its tariff can price).

    Call it in the transaction that booked the money, after booking, so the
    figures include it. Never raises for an account the tariff cannot price.
    ``prepaid``: whether the account has a prepaid tariff assignment, if the
    caller already knows (e.g. read with the account); None looks it up (one
    primary-key query). ``sts``: the token just vended for the money (the
    ``sts`` response object): ``credited_kwh`` is then the kWh the tariff gave
    that token (after the vend, the account's tier position already includes them).
    """
    if prepaid is False or not has_app_context() or EXTENSION not in current_app.extensions:
        return {}
    if prepaid is None:
        mode = session.execute(_PAYMENT_MODE, {"no": account_no}).scalar_one_or_none()
        if mode != "prepaid":
            return {}
    found = support()
    try:
        fields = metering_kwh_fields(session, account_no, now=now, catalog=found.catalog,
                                     amount_minor=credited_minor, config=found.config)
    except (MeteringError, TariffError) as e:  # display-only figures never refuse a payment
        log.warning("no kWh figures for account %s: %s", account_no, type(e).__name__)
        return {}
    if not fields:
        return {}
    document = {"available_balance": fields["available_balance"], "available_kwh": fields["available_kwh"]}
    if sts is not None and sts.get("tariff_kwh") is not None:
        document["credited_kwh"] = str(sts["tariff_kwh"])
    elif credited_minor is not None and "amount_kwh" in fields:
        document["credited_kwh"] = fields["amount_kwh"]
    document["kwh_tariff"] = fields["kwh_tariff"]
    document["kwh_basis"] = fields["kwh_basis"]
    return document
