"""Key change: four tokens under the old key carrying the new one; the meter record moves atomically."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest
from sqlalchemy import func, select, update

from vouchers.keystore.vending_keys import VendingKeyId, store_vending_key, vending_dir
from vouchers.books.payments import post_payment
from vouchers.storage.models import AuditEvent
from vouchers.storage.sts_models import StsKeyChange, StsMeter
from vouchers.sts import encoder
from vouchers.sts.decoder import decode_token
from vouchers.sts.dkga04 import MeterKeyParams, derive_decoder_key
from vouchers.sts.pan import MeterPan
from vouchers.sts.tid import BaseDate
from tests.integration.vending.conftest import ACCOUNT, CATALOG, PAN, PASSPHRASE, VENDING_KEY, VendWorld, at
from vouchers.vending import rekey
from vouchers.vending.errors import VendingError, WrongKeyRevision
from vouchers.vending.meters import get_meter
from vouchers.vending.receipts import base_date_at
from vouchers.vending.rekey import change_key, reprint_key_change
from vouchers.vending.service import vend_for_credit

NOW = at("2026-11-26", 10)
NEW_KEY = bytes.fromhex("0123456789abcdef0123456789abcdef01234567")  # a test supply group's KRN 2
OLD = MeterKeyParams(pan=MeterPan(PAN), sgc=123457, ti=1, krn=1, key_type=2, base_date=BaseDate.Y2014, ken=255)


@pytest.fixture
def kw(vw: VendWorld) -> VendWorld:
    store_vending_key(vw.store, VendingKeyId(123457, 2, 2), NEW_KEY, PASSPHRASE)
    return vw


def _vend(world: VendWorld, amount: int, ref: str):  # type: ignore[no-untyped-def]
    with world.sessions.begin() as s:
        post_payment(s, "counter_cash", ACCOUNT, amount, ref, NOW, NOW)
        return vend_for_credit(s, ACCOUNT, amount, NOW, world.backend(), catalog=CATALOG)


def _snapshot(world: VendWorld, pan: str = PAN) -> tuple[object, ...]:
    with world.sessions.begin() as s:
        meter = get_meter(s, pan)
        changes = s.execute(select(func.count()).select_from(StsKeyChange)).scalar_one()
    return meter.as_dict(), changes


def test_key_change_tokens_carry_the_new_key_under_the_old_one(kw: VendWorld) -> None:
    before = _vend(kw, 2000, "K1")
    with kw.sessions.begin() as s:
        result = change_key(s, PAN, NOW, kw.backend(), krn=2, ti=2, ken=200, actor="engineer")
    new = dataclasses.replace(OLD, krn=2, ti=2, ken=200)
    old_dk, new_dk = derive_decoder_key(VENDING_KEY, OLD), derive_decoder_key(NEW_KEY, new)
    decoded = [decode_token(t, old_dk).verified() for t in result.tokens]
    assert [d.kind for d in decoded] == ["set_1st_section_decoder_key", "set_2nd_section_decoder_key",
                                         "set_3rd_section_decoder_key", "set_4th_section_decoder_key"]
    assert [d.token_class for d in decoded] == [2, 2, 2, 2] and [d.subclass for d in decoded] == [3, 4, 8, 9]
    f = [d.key_change.fields() for d in decoded]
    key = (f[0]["nkho"] << 96) | (f[2]["nkmo2"] << 64) | (f[3]["nkmo1"] << 32) | f[1]["nklo"]
    assert key.to_bytes(16, "big") == new_dk  # the new decoder key, in its four parts
    assert (f[0]["krn"], f[0]["key_type"], f[0]["rollover"], f[1]["ti"]) == (2, 2, 0, 2)
    assert (f[0]["kenho"] << 4 | f[1]["kenlo"]) == 200 and (f[3]["sgcho"] << 12 | f[2]["sgclo"]) == 123457
    # exactly the pure encoder's (vector-verified) key change set, and noise under the new key
    assert result.tokens == tuple(t.digits for t in encoder.key_change_tokens(old_dk, new_dk, new))
    assert not all(decode_token(t, new_dk).crc_ok for t in result.tokens)
    assert not result.rollover and result.last_tid == before.tid

    with kw.sessions.begin() as s:  # the record moved; the old parameters are in the history and the audit trail
        meter = get_meter(s, PAN)
        assert (meter.sgc, meter.ti, meter.krn, meter.key_type, meter.ken, meter.base_date) == \
            (123457, 2, 2, 2, 200, 2014)
        assert meter.last_tid == before.tid  # same base date: the TID record continues
        history = s.execute(select(StsKeyChange)).scalar_one()
        assert (history.old_krn, history.old_ti, history.old_ken, history.new_krn, history.new_ti) == (1, 1, 255, 2, 2)
        assert (history.last_tid_before, history.actor, history.rollover) == (before.tid, "engineer", False)
        event = s.execute(select(AuditEvent).where(AuditEvent.action == "sts.key_change")).scalar_one()
        details = json.loads(event.details)
        assert details["old"]["krn"] == 1 and details["new"]["krn"] == 2
        assert not any(t in event.details or t[:10] in event.details for t in result.tokens)
        assert new_dk.hex() not in event.details and old_dk.hex() not in event.details

    after = _vend(kw, 2000, "K2")  # vends now use the new key
    assert decode_token(after.token, new_dk).verified().tid == after.tid > before.tid
    assert not decode_token(after.token, old_dk).crc_ok

    with kw.sessions.begin() as s:
        again = reprint_key_change(s, PAN, NOW, kw.backend())
    assert again.tokens == result.tokens and again.reprints == 1


def test_a_new_base_date_sets_rollover_and_restarts_the_tid_record(kw: VendWorld) -> None:
    kw.metering.customer("3300000009", mode="prepaid")
    pan = kw.meter("3300000009", "600727000000000017", base_date=1993)
    then = at("2024-06-01", 9)  # before the 1993 base date rolls over (2024-11-24)
    with kw.sessions.begin() as s:
        s.execute(update(StsMeter).where(StsMeter.pan == pan).values(last_tid=16_400_000))
    with kw.sessions.begin() as s:
        result = change_key(s, pan, then, kw.backend(), base_date=2014)
    old = dataclasses.replace(OLD, pan=MeterPan(pan), base_date=BaseDate.Y1993)
    first = decode_token(result.tokens[0], derive_decoder_key(VENDING_KEY, old)).verified()
    assert first.key_change.fields()["rollover"] == 1 and result.rollover
    with kw.sessions.begin() as s:
        meter = get_meter(s, pan)
        assert (meter.base_date, meter.last_tid) == (2014, None)
        assert s.execute(select(StsKeyChange.last_tid_before)).scalar_one() == 16_400_000
        # receipts print a token's TID time under the base date of its day
        minute = dt.timedelta(minutes=1)
        assert (base_date_at(s, pan, then - minute), base_date_at(s, pan, then + minute)) == (1993, 2014)
        assert base_date_at(s, PAN, then) == 2014  # never changed: the meter's own


@pytest.mark.parametrize("pan, options, code", [
    ("600727000000000017", {"krn": 2}, "sts_unknown_meter"),
    ("600727000000000008", {"krn": 2}, "sts_invalid_pan"),
    (PAN, {}, "sts_same_key"),
    (PAN, {"krn": 1, "ti": 1, "sgc": 123457}, "sts_same_key"),
    (PAN, {"krn": 2, "ken": 10}, "sts_key_expired"),  # a 2026 TID is past KEN 10 at once
    (PAN, {"base_date": 2035}, "sts_tid_out_of_range"),  # not before 2035
    (PAN, {"krn": 3}, "sts_wrong_key_revision"),  # no vending key for the new revision
    (PAN, {"sgc": 999999}, "sts_no_vending_key"),
    (PAN, {"krn": 12}, "sts_invalid_field"),
])
def test_refusals_issue_nothing(kw: VendWorld, pan: str, options: dict[str, int], code: str) -> None:
    _vend(kw, 1000, "R1")
    before = _snapshot(kw)
    with pytest.raises(VendingError) as info, kw.sessions.begin() as s:
        change_key(s, pan, NOW, kw.backend(), **options)
    assert info.value.code == code, info.value
    assert VENDING_KEY.hex() not in str(info.value) and NEW_KEY.hex() not in str(info.value)
    assert _snapshot(kw) == before


def test_a_vend_in_between_makes_the_change_retry(kw: VendWorld, monkeypatch) -> None:
    _vend(kw, 1000, "C1")
    with kw.sessions.begin() as s:
        stale = get_meter(s, PAN)
    _vend(kw, 1000, "C2")  # advances the TID record after the key change read it
    before = _snapshot(kw)
    monkeypatch.setattr(rekey, "get_meter", lambda session, pan: stale)
    with pytest.raises(VendingError) as info, kw.sessions.begin() as s:
        change_key(s, PAN, NOW, kw.backend(), krn=2)
    assert info.value.code == "sts_meter_changed"
    assert _snapshot(kw) == before


def test_reprint_without_a_key_change(kw: VendWorld) -> None:
    with pytest.raises(VendingError) as info, kw.sessions.begin() as s:
        reprint_key_change(s, PAN, NOW, kw.backend())
    assert info.value.code == "sts_nothing_to_reprint"


def test_a_missing_revision_is_named_as_the_new_or_the_old_key_of_the_change(kw: VendWorld) -> None:
    with pytest.raises(WrongKeyRevision) as info, kw.sessions.begin() as s:
        change_key(s, PAN, NOW, kw.backend(), krn=3)  # the meter is on KRN 1; the store holds 1 and 2
    assert str(info.value) == (
        "no vending key for key revision 3 of SGC 123457, the new key of this key change (revision 1 -> 3); "
        "the key store holds revision(s) 1, 2 only: import it with `voucherctl sts vending-key import`")
    with kw.sessions.begin() as s:
        change_key(s, PAN, NOW, kw.backend(), krn=2)
    (vending_dir(kw.store) / VendingKeyId(123457, 1, 2).file_name).unlink()  # the old key, gone since
    with pytest.raises(WrongKeyRevision) as info, kw.sessions.begin() as s:
        reprint_key_change(s, PAN, NOW, kw.backend())
    assert str(info.value).startswith(
        "no vending key for key revision 1 of SGC 123457, the old key of this key change (revision 1 -> 2); "
        "the key store holds revision(s) 2 only")
