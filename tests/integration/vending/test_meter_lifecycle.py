"""Taking a meter out of service (and back): no tokens for it, billing by readings again, history kept."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select

from vouchers.books.customers import customer_summary
from vouchers.books.payments import post_payment
from vouchers.metering import prepaid
from vouchers.storage.models import AuditEvent
from vouchers.storage.sts_models import StsKeyChange, StsMeter, StsVend
from tests.integration.vending.conftest import ACCOUNT, CATALOG, PAN, VendWorld, at
from vouchers.vending import service
from vouchers.vending.errors import VendingError
from vouchers.vending.meters import add_meter, deactivate_meter, get_meter, list_meters, reactivate_meter
from vouchers.vending.rekey import change_key
from vouchers.vending.service import reprint_last, vend_engineering, vend_for_credit

NOW = at("2026-11-26", 10)
OTHER_PAN = "600727000000000017"


def _vend(world: VendWorld, amount: int, ref: str, **kw):  # type: ignore[no-untyped-def]
    with world.sessions.begin() as s:
        post_payment(s, "counter_cash", ACCOUNT, amount, ref, NOW, NOW)
        return vend_for_credit(s, ACCOUNT, amount, NOW, world.backend(), catalog=CATALOG, **kw)


def _deactivate(world: VendWorld, pan: str = PAN,  # type: ignore[no-untyped-def]
                reason: str = "replaced by a non-keypad meter"):
    with world.sessions.begin() as s:
        return deactivate_meter(s, pan, reason=reason, now=NOW, actor="clerk")


def _state(world: VendWorld) -> tuple[int, int | None, int]:
    with world.sessions.begin() as s:
        return (customer_summary(s, ACCOUNT).balance, get_meter(s, PAN).last_tid,
                s.execute(select(func.count()).select_from(StsVend)).scalar_one())


def _refused(world: VendWorld, call, code: str) -> str:  # type: ignore[no-untyped-def]
    before = _state(world)
    with pytest.raises(VendingError) as info, world.sessions.begin() as s:
        call(s)
    assert info.value.code == code, info.value
    assert _state(world) == before  # no token, no TID taken, no money moved
    return str(info.value)


def test_a_deactivated_meter_gets_no_tokens_and_keeps_its_history(vw: VendWorld) -> None:
    first = _vend(vw, 3000, "BEFORE")
    with vw.sessions.begin() as s:
        vend_engineering(s, PAN, "clear_tamper", NOW, vw.backend())
    view = _deactivate(vw)
    assert view.active is False and view.last_tid == first.tid + 1  # the TID record is kept

    def paid_then_vended(s, **kw):  # type: ignore[no-untyped-def]
        post_payment(s, "counter_cash", ACCOUNT, 5000, "AFTER", NOW, NOW)
        vend_for_credit(s, ACCOUNT, 5000, NOW, vw.backend(), catalog=CATALOG, **kw)

    message = _refused(vw, paid_then_vended, "sts_meter_inactive")
    assert PAN in message and "out of service" in message and "\n" not in message
    assert "out of service" in _refused(vw, lambda s: paid_then_vended(s, pan=PAN), "sts_meter_inactive")
    _refused(vw, lambda s: vend_engineering(s, PAN, "clear_credit", NOW, vw.backend()), "sts_meter_inactive")
    _refused(vw, lambda s: change_key(s, PAN, NOW, vw.backend(), ken=200), "sts_meter_inactive")

    with vw.sessions.begin() as s:  # the history stays readable
        assert reprint_last(s, PAN, now=NOW, kind="credit").token == first.token
        assert s.execute(select(func.count()).select_from(StsVend).where(StsVend.pan == PAN)).scalar_one() == 2
        assert [m.active for m in list_meters(s, ACCOUNT)] == [False]
        event = s.execute(select(AuditEvent).where(AuditEvent.action == "sts.meter_deactivate")).scalar_one()
    assert (event.subject_id, event.actor, event.from_state, event.to_state) == (PAN, "clerk", "active", "inactive")
    assert event.reason == "replaced by a non-keypad meter"
    assert json.loads(event.details)["account_no"] == ACCOUNT


def test_a_request_that_vended_before_deactivation_replays_its_token(vw: VendWorld) -> None:
    with vw.sessions.begin() as s:
        post_payment(s, "counter_cash", ACCOUNT, 2000, "R1", NOW, NOW)
        first = vend_for_credit(s, ACCOUNT, 2000, NOW, vw.backend(), catalog=CATALOG, source="payment",
                                source_ref="77")
    _deactivate(vw)
    with vw.sessions.begin() as s:
        again = vend_for_credit(s, ACCOUNT, 2000, NOW, vw.backend(), catalog=CATALOG, source="payment",
                                source_ref="77")
        fields = service.credit_fields(s, ACCOUNT, 2000, NOW, vw.backend, catalog=CATALOG, source="payment",
                                       source_ref="77", actor="t")
        assert service.credit_fields(s, ACCOUNT, 2000, NOW, vw.backend, catalog=CATALOG, source="payment",
                                     source_ref="78", actor="t") is None
    assert again.replayed and again.token == first.token
    assert fields is not None and fields.sold_minor == 2000 and fields.sts["tid"] == first.tid


def test_a_vend_racing_the_deactivation_takes_no_tid(vw: VendWorld) -> None:
    with vw.sessions.begin() as s:
        stale = get_meter(s, PAN)  # read while still active
    _deactivate(vw)
    _refused(vw, lambda s: service._take_tid(s, stale, NOW), "sts_meter_inactive")


def test_deactivating_twice_an_unknown_meter_or_without_reason_is_refused(vw: VendWorld) -> None:
    _refused(vw, lambda s: deactivate_meter(s, PAN, reason="  ", now=NOW), "sts_invalid_input")
    _refused(vw, lambda s: deactivate_meter(s, OTHER_PAN, reason="gone", now=NOW), "sts_unknown_meter")
    _refused(vw, lambda s: deactivate_meter(s, "600727000000000018", reason="gone", now=NOW), "sts_invalid_pan")
    _deactivate(vw)
    assert "already inactive" in _refused(vw, lambda s: deactivate_meter(s, PAN, reason="again", now=NOW),
                                          "sts_meter_inactive")
    with vw.sessions.begin() as s:
        assert s.execute(select(func.count()).select_from(AuditEvent)
                         .where(AuditEvent.action == "sts.meter_deactivate")).scalar_one() == 1


def test_the_account_is_billed_by_readings_again_after_deactivation(vw: VendWorld) -> None:
    """Readings taken while the keypad meter served were paid for by tokens: after its deactivation (26
    November) only what is read later is billed, from the deactivation day on."""
    world = vw.metering
    world.pay(ACCOUNT, "100.00", "2026-10-02")
    world.read(ACCOUNT, "2026-10-31", "150")
    skipped = world.bill("2026-10", "2026-10-31")
    assert (skipped.billed, skipped.keypad_meter) == (0, 1) and world.bills(ACCOUNT) == []
    _deactivate(vw)
    with vw.sessions.begin() as s:
        assert s.get(StsMeter, PAN).deactivated_at == NOW
    october = world.bill("2026-10", "2026-10-31")  # the keypad meter's October: nothing to charge
    assert (october.billed, october.keypad_meter, october.no_reading) == (0, 0, 1)
    world.read(ACCOUNT, "2026-11-30", "190")
    november = world.bill("2026-11", "2026-11-30")
    assert (november.billed, november.keypad_meter) == (1, 0)
    [bill] = world.bills(ACCOUNT)
    assert (bill.kwh_ckwh, bill.opening_date) == (4000, dt.date(2026, 11, 26))
    assert world.summary(ACCOUNT).balance == 10000 - 1993  # 40 kWh x 0.4983 = 19.932


def test_reactivation_continues_the_tid_record_and_keeps_one_active_meter_per_account(vw: VendWorld) -> None:
    first = _vend(vw, 1000, "A1")
    _deactivate(vw)
    with vw.sessions.begin() as s:
        add_meter(s, pan=OTHER_PAN, account_no=ACCOUNT, sgc=123457, ti=1, krn=1, now=NOW)  # the replacement
    assert "already has an active STS meter" in _refused(
        vw, lambda s: reactivate_meter(s, PAN, reason="back", now=NOW), "sts_meter_exists")
    _deactivate(vw, OTHER_PAN)
    with vw.sessions.begin() as s:
        view = reactivate_meter(s, PAN, reason="the keypad meter is back", now=NOW, actor="clerk")
        assert s.get(StsMeter, PAN).active is True and s.get(StsMeter, PAN).deactivated_at is None
    assert view.active and view.last_tid == first.tid
    assert _vend(vw, 1000, "A2").tid == first.tid + 1
    assert "already active" in _refused(vw, lambda s: reactivate_meter(s, PAN, reason="x", now=NOW),
                                        "sts_meter_exists")
    with vw.sessions.begin() as s:
        actions = s.execute(select(AuditEvent.action).where(AuditEvent.subject_id == PAN)
                            .order_by(AuditEvent.id)).scalars().all()
        assert s.execute(select(func.count()).select_from(StsKeyChange)).scalar_one() == 0
    assert actions.count("sts.meter_deactivate") == 1 and actions[-2:] == ["sts.meter_reactivate", "sts.vend_credit"]


def test_kwh_bought_by_token_count_in_the_tiers_of_the_first_bill_after(vw: VendWorld) -> None:
    """Fujian monthly tiers (230 kWh at 0.4983, then 0.5483): 100.00 bought 200.68 kWh by token in November,
    the keypad meter was taken out on the 26th (its last reading that day), then 100 kWh were read by the
    30th. By hand: 29.32 kWh x 0.4983 = 14.610156 and 70.68 kWh x 0.5483 = 38.753844: 53.364, so 53.36."""
    world = vw.metering
    assert _vend(vw, 10000, "T1").tariff_kwh == "200.68"
    world.read(ACCOUNT, "2026-11-26", "500")
    _deactivate(vw)
    world.read(ACCOUNT, "2026-11-30", "600")
    with vw.sessions.begin() as s:
        standing = prepaid.standing(s, ACCOUNT, now=at("2026-11-30", 13), catalog=CATALOG, config=world.config)
    assert standing is not None and (standing.unbilled_ckwh, standing.estimate_fen) == (10000, 5336)
    assert standing.used_in_period_ckwh == 20068 + 10000
    result = world.bill("2026-11", "2026-11-30")
    assert (result.billed, result.exceptions) == (1, [])
    [bill] = world.bills(ACCOUNT)
    assert (bill.kwh_ckwh, bill.used_before_ckwh, bill.total_fen) == (10000, 20068, 5336)
