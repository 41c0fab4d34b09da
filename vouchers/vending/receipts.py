"""PDF receipts for vended tokens: the vend log row -> :class:`print_templates.sts_receipt.StsReceipt`,
and a key change (:class:`vouchers.vending.rekey.KeyChangeResult`) -> :class:`~print_templates.sts_receipt.KeyChangeReceipt`.

The TID time is the minute the TID stands for under the base date the meter
had when the token was vended (a later key change may have moved the meter
to another base date: the key change history says which). Times print in the
business time zone (``VOUCHER_TIMEZONE``, :class:`vouchers.metering.config.MeteringConfig`).
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from vouchers.books.customers import get_customer
from vouchers.books.errors import UnknownAccount
from vouchers.metering.accounts import find_assignment
from vouchers.metering.config import MeteringConfig
from print_templates.sts_receipt import KeyChangeReceipt, StsReceipt, render_key_change_receipt, render_sts_receipt
from vouchers.storage.sts_models import StsKeyChange, StsMeter
from vouchers.sts.tid import BaseDate, tid_to_datetime
from vouchers.tariffs import Catalog
from vouchers.tariffs.errors import TariffError
from vouchers.vending.errors import UnknownMeter
from vouchers.vending.rekey import KeyChangeResult
from vouchers.vending.service import VendResult
from vouchers.money import format_amount


def base_date_at(session: Session, pan: str, moment: dt.datetime) -> int:
    """The meter's base date (year) at ``moment``, from its key change history."""
    before = session.execute(select(StsKeyChange.new_base_date).where(
        StsKeyChange.pan == pan, StsKeyChange.changed_at <= moment).order_by(StsKeyChange.id.desc()).limit(1)
    ).scalar_one_or_none()
    if before is not None:
        return int(before)
    after = session.execute(select(StsKeyChange.old_base_date).where(
        StsKeyChange.pan == pan, StsKeyChange.changed_at > moment).order_by(StsKeyChange.id).limit(1)
    ).scalar_one_or_none()
    if after is not None:
        return int(after)
    meter = session.get(StsMeter, pan)
    if meter is None:
        raise UnknownMeter(f"no STS meter {pan}")
    return int(meter.base_date)


def receipt_for(session: Session, result: VendResult, *, config: MeteringConfig | None = None,
                catalog: Catalog | None = None, utility_name: str = "", hotline: str = "",
                logo: bytes | None = None) -> StsReceipt:
    """The receipt of one vend (credit or engineering), as plain values."""
    config = config or MeteringConfig()
    vended_at = result.vended_at or dt.datetime.now(dt.timezone.utc)
    base = BaseDate.from_year(base_date_at(session, result.pan, vended_at))
    tariff = tariff_zh = None
    assignment = find_assignment(session, result.account_no)
    if assignment is not None:
        tariff = tariff_zh = assignment.tariff_id
        if catalog is not None:
            try:
                known = catalog.get(assignment.tariff_id)
            except TariffError:
                pass
            else:
                tariff = f"{assignment.tariff_id} {known.display_name('en')}"
                tariff_zh = f"{assignment.tariff_id} {known.display_name('zh')}"
    currency = None
    if result.amount_minor is not None:
        try:
            currency = get_customer(session, result.account_no).currency
        except UnknownAccount:
            currency = None
    return StsReceipt(
        token=result.token, meter=result.pan, account_no=result.account_no, kind=result.kind, tid=result.tid,
        tid_time=tid_to_datetime(result.tid, base), vend_id=result.vend_id, vended_at=vended_at,
        amount=format_amount(result.amount_minor) if result.amount_minor is not None else None, currency=currency,
        kwh=result.kwh, tariff_kwh=result.tariff_kwh if result.kind == "credit" else None, tariff=tariff, tariff_zh=tariff_zh,
        watts=result.units if result.kind == "max_power" else None, reprints=result.reprints,
        utility_name=utility_name, hotline=hotline, timezone=config.tz, logo=logo)


def render_receipt(session: Session, result: VendResult, *, lang: str = "zh", config: MeteringConfig | None = None,
                   catalog: Catalog | None = None, utility_name: str = "", hotline: str = "",
                   logo: bytes | None = None) -> bytes:
    """The receipt of one vend as PDF bytes (80 mm, fonts embedded)."""
    return render_sts_receipt(receipt_for(session, result, config=config, catalog=catalog,
                                          utility_name=utility_name, hotline=hotline, logo=logo), lang=lang)


def key_change_receipt_for(change: KeyChangeResult, *, config: MeteringConfig | None = None, utility_name: str = "",
                           hotline: str = "", logo: bytes | None = None) -> KeyChangeReceipt:
    """The receipt of one key change (its four tokens in entry order, the old and new key parameters)."""
    config = config or MeteringConfig()
    changed_at = change.changed_at
    if changed_at.tzinfo is None:  # SQLite keeps no offset; stored as UTC
        changed_at = changed_at.replace(tzinfo=dt.timezone.utc)
    return KeyChangeReceipt(tokens=change.tokens, meter=change.pan, account_no=change.account_no,
                            old=dict(change.old), new=dict(change.new), rollover=change.rollover,
                            change_id=change.change_id, changed_at=changed_at, reprints=change.reprints,
                            utility_name=utility_name, hotline=hotline, timezone=config.tz, logo=logo)


def render_key_change(change: KeyChangeResult, *, lang: str = "zh", config: MeteringConfig | None = None,
                      utility_name: str = "", hotline: str = "", logo: bytes | None = None) -> bytes:
    """The key change receipt as PDF bytes (80 mm, fonts embedded)."""
    return render_key_change_receipt(key_change_receipt_for(change, config=config, utility_name=utility_name,
                                                            hotline=hotline, logo=logo), lang=lang)
