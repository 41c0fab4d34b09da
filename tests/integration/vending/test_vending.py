"""Vending service: TIDs, money -> kWh -> token, refusals that move nothing."""
from __future__ import annotations

import datetime as dt
import itertools

import pytest
from sqlalchemy import func, select, update

from vouchers.books.customers import customer_summary
from vouchers.books.energy_sales import reverse_energy_sale
from vouchers.books.payments import post_payment
from vouchers.metering import positions as pos
from vouchers.metering.prepaid import kwh_for_money
from vouchers.storage.sts_models import StsMeter, StsVend
from vouchers.sts.amount import kwh_to_units, representable_units
from vouchers.sts.backend import SoftwareVendingBackend
from vouchers.sts.decoder import decode_token
from vouchers.sts.dkga04 import derive_decoder_key
from tests.integration.vending.conftest import (
    ACCOUNT,
    CATALOG,
    PAN,
    VENDING_KEY,
    VendWorld,
    at,
)
from vouchers.vending.errors import VendingError
from vouchers.vending.meters import add_meter, get_meter
from vouchers.vending.service import reprint_last, vend_engineering, vend_for_credit

NOW = at("2026-11-26", 10)


def _decode(world: VendWorld, token: str):  # type: ignore[no-untyped-def]
    with world.sessions.begin() as s:
        params = get_meter(s, PAN).params()
    return decode_token(token, derive_decoder_key(VENDING_KEY, params)).verified()


_REFS = itertools.count(1)


def _fund(s, amount: int, now: dt.datetime = NOW, account_no: str = ACCOUNT) -> None:  # type: ignore[no-untyped-def]
    """Money on the prepaid balance first: a vend sells energy out of it."""
    post_payment(s, "counter_cash", account_no, amount, f"FUND{next(_REFS)}", now, now)


def _vend(world: VendWorld, amount: int, now: dt.datetime = NOW, **kw):  # type: ignore[no-untyped-def]
    with world.sessions.begin() as s:
        _fund(s, amount, now)
        return vend_for_credit(s, ACCOUNT, amount, now, world.backend(), catalog=CATALOG, **kw)


def _count(world: VendWorld) -> int:
    with world.sessions.begin() as s:
        return s.execute(select(func.count()).select_from(StsVend)).scalar_one()


def test_two_vends_in_one_minute_get_distinct_increasing_tids(vw: VendWorld) -> None:
    first = _vend(vw, 5000)
    second = _vend(vw, 5000, NOW + dt.timedelta(seconds=20))
    third = _vend(vw, 5000, NOW - dt.timedelta(minutes=30))  # clock went back: still increasing
    assert first.tid < second.tid < third.tid
    assert second.tid == first.tid + 1 and third.tid == first.tid + 2
    assert first.token != second.token
    assert [_decode(vw, r.token).tid for r in (first, second, third)] == [first.tid, second.tid, third.tid]
    later = _vend(vw, 5000, NOW + dt.timedelta(hours=1))
    assert later.tid == first.tid + 60  # back on the clock once it has caught up


def test_token_credits_the_tariff_kwh_rounded_up_to_a_tenth(vw: VendWorld) -> None:
    with vw.sessions.begin() as s:
        position = pos.load(s, [ACCOUNT], cutoff=NOW.date())[0]
        kwh = kwh_for_money(position, 10000, CATALOG, NOW.date())
    result = _vend(vw, 10000)
    units = representable_units(kwh_to_units(kwh))
    decoded = _decode(vw, result.token)
    assert decoded.units == units == result.units
    assert result.tariff_kwh == format(kwh, "f")
    assert decoded.kind == "electricity_credit"


def test_reprint_and_engineering(vw: VendWorld) -> None:
    credit = _vend(vw, 3000)
    with vw.sessions.begin() as s:
        again = reprint_last(s, PAN, now=NOW)
    assert again.token == credit.token and again.reprints == 1
    with vw.sessions.begin() as s:
        cc = vend_engineering(s, PAN, "clear_credit", NOW, vw.backend())
        ct = vend_engineering(s, PAN, "clear_tamper", NOW, vw.backend())
        mp = vend_engineering(s, PAN, "max_power", NOW, vw.backend(), watts=5000)
    kinds = [_decode(vw, t.token).kind for t in (cc, ct, mp)]
    assert kinds == ["clear_credit", "clear_tamper_condition", "set_maximum_power_limit"]
    assert len({credit.tid, cc.tid, ct.tid, mp.tid}) == 4
    assert _decode(vw, mp.token).data is not None


def test_source_ref_makes_a_vend_idempotent(vw: VendWorld) -> None:
    first = _vend(vw, 2000, source="payment", source_ref="42")
    again = _vend(vw, 2000, source="payment", source_ref="42")
    assert again.replayed and again.token == first.token and _count(vw) == 1


def _refused_with_payment(world: VendWorld, code: str, amount: int = 10000, **kw) -> None:  # type: ignore[no-untyped-def]
    before = customer_summary_of(world)
    vends = _count(world)
    with pytest.raises(VendingError) as info:
        with world.sessions.begin() as s:
            post_payment(s, "counter_cash", ACCOUNT, amount, "REFUSED1", NOW, NOW)
            vend_for_credit(s, ACCOUNT, amount, NOW, world.backend(), catalog=CATALOG, **kw)
    assert info.value.code == code, info.value
    assert str(info.value)
    assert customer_summary_of(world) == before  # no money moved
    assert _count(world) == vends  # no token issued


def customer_summary_of(world: VendWorld):  # type: ignore[no-untyped-def]
    with world.sessions.begin() as s:
        summary = customer_summary(s, ACCOUNT)
        meter = get_meter(s, PAN)
    return summary.balance, summary.arrears, meter.last_tid


def test_bad_luhn_is_refused(vw: VendWorld) -> None:
    _refused_with_payment(vw, "sts_invalid_pan", pan="600727000000000008")
    with pytest.raises(VendingError) as info, vw.sessions.begin() as s:
        add_meter(s, pan="600727000000000018", account_no=ACCOUNT, sgc=123457, ti=1, krn=1, now=NOW)
    assert info.value.code == "sts_invalid_pan"


def test_unknown_meter_is_refused(vw: VendWorld) -> None:
    _refused_with_payment(vw, "sts_unknown_meter", pan="600727000000000017")
    with pytest.raises(VendingError) as info, vw.sessions.begin() as s:
        vend_engineering(s, "600727000000000017", "clear_tamper", NOW, vw.backend())
    assert info.value.code == "sts_unknown_meter"


def test_amount_too_large_is_refused(vw: VendWorld) -> None:
    _refused_with_payment(vw, "sts_amount_too_large", amount=300_000_000)


def test_ken_exceeded_is_refused(vw: VendWorld) -> None:
    vw.metering.customer("3300000002", mode="prepaid")
    vw.meter("3300000002", "600727000000000017", ken=50)
    with pytest.raises(VendingError) as info, vw.sessions.begin() as s:
        post_payment(s, "counter_cash", "3300000002", 5000, "KEN1", NOW, NOW)
        vend_for_credit(s, "3300000002", 5000, NOW, vw.backend(), catalog=CATALOG)
    assert info.value.code == "sts_key_expired"
    with vw.sessions.begin() as s:
        assert customer_summary(s, "3300000002").balance == 0
        assert get_meter(s, "600727000000000017").last_tid is None
    assert _count(vw) == 0


def test_wrong_key_revision_is_refused(vw: VendWorld) -> None:
    vw.metering.customer("3300000003", mode="prepaid")
    vw.meter("3300000003", "600727000000000025", krn=2)
    with pytest.raises(VendingError) as info, vw.sessions.begin() as s:
        post_payment(s, "counter_cash", "3300000003", 5000, "KRN1", NOW, NOW)
        vend_for_credit(s, "3300000003", 5000, NOW, vw.backend(), catalog=CATALOG)
    assert info.value.code == "sts_wrong_key_revision"
    assert "revision 2" in str(info.value)
    with vw.sessions.begin() as s:
        assert customer_summary(s, "3300000003").balance == 0
    assert _count(vw) == 0


def test_single_key_backend_can_replace_the_key_store(vw: VendWorld) -> None:
    with vw.sessions.begin() as s:
        _fund(s, 1000)
        result = vend_for_credit(s, ACCOUNT, 1000, NOW, SoftwareVendingBackend.single_key(VENDING_KEY),
                                 catalog=CATALOG)
    assert _decode(vw, result.token).units == result.units


def test_a_tid_already_in_the_vend_log_is_a_clean_refusal(vw: VendWorld) -> None:
    first = _vend(vw, 1000)
    with vw.sessions.begin() as s:  # as after a base-date change: the record restarts below an old TID
        s.execute(update(StsMeter).where(StsMeter.pan == PAN).values(last_tid=first.tid - 1))
    with pytest.raises(VendingError) as info, vw.sessions.begin() as s:
        _fund(s, 1000, NOW - dt.timedelta(minutes=5))
        vend_for_credit(s, ACCOUNT, 1000, NOW - dt.timedelta(minutes=5), vw.backend(), catalog=CATALOG)
    assert info.value.code == "sts_tid_conflict"
    assert _count(vw) == 1


def test_vended_kwh_move_the_account_up_its_tiers(vw: VendWorld) -> None:
    """Fujian monthly tiers (230 / 420 kWh at 0.4983 / 0.5483): a keypad meter has no bills, so the kWh
    vended this month place the next purchase in the tiers; a reversed sale no longer counts, and a new
    month starts again from tier 1. By hand: 100.00 / 0.4983 = 200.68 kWh (rounded down); then 29.32 kWh
    left in tier 1 cost 14.610156, and 85.389844 / 0.5483 = 155.73... kWh: 185.05 kWh for the next 100.00."""
    first = _vend(vw, 10000)
    assert first.tariff_kwh == "200.68"
    second = _vend(vw, 10000, NOW + dt.timedelta(hours=1))
    assert second.tariff_kwh == "185.05"
    with vw.sessions.begin() as s:
        position = pos.load(s, [ACCOUNT], cutoff=NOW.date())[0]
        assert [(u.reading_date, u.kwh_ckwh) for u in position.vended] == [(NOW.date(), 20068), (NOW.date(), 18505)]
        reverse_energy_sale(s, second.transaction_id, now=NOW + dt.timedelta(hours=2), actor="test",
                            reason="token never entered")
    third = _vend(vw, 10000, NOW + dt.timedelta(hours=3))
    assert third.tariff_kwh == "185.05"  # the reversed sale's kWh are not counted
    # 00:30 in Beijing on 1 December (still 30 November in UTC): December's tier 1, and the vend counts in
    # December for the next one
    december = _vend(vw, 10000, at("2026-12-01", 0) + dt.timedelta(minutes=30))
    assert december.tariff_kwh == "200.68"
    assert _vend(vw, 10000, at("2026-12-01", 1)).tariff_kwh == "185.05"
