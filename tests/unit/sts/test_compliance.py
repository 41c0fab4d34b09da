"""Every published STS 531-1-0-04 token in tests/vectors/sts, encoded and decoded."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from vouchers.sts import encoder
from vouchers.sts.amount import kwh_to_units
from vouchers.sts.backend import CreditRequest, SoftwareVendingBackend
from vouchers.sts.decoder import decode_token
from vouchers.sts.dkga04 import derive_decoder_key
from vouchers.sts.errors import KeyExpired
from vouchers.sts.tid import BaseDate, tid_at

from .vectors import compliance, moment, params, vending_key

DATA = compliance()
RND = DATA["defaults"]["rnd"]
METER_FIELDS = ("pan", "krn", "base_date", "ti", "sgc", "ken", "key_type", "vending_key")


def _meter_overrides(vector: dict[str, Any]) -> dict[str, Any]:
    return {k: vector[k] for k in METER_FIELDS if k in vector}


def _tid(vector: dict[str, Any], base: BaseDate) -> int:
    when: datetime = moment(vector.get("tid_of", vector["issued"]))
    return tid_at(when, base)


def _encode(vector: dict[str, Any]) -> encoder.EncodedToken:
    p = params(_meter_overrides(vector))
    key = derive_decoder_key(vending_key(vector), p)
    tid = _tid(vector, p.base_date)
    kind = vector["kind"]
    if kind == "credit":
        return encoder.credit_token(key, subclass=vector["subclass"], rnd=RND, tid=tid,
                                    units=kwh_to_units(vector["amount_kwh"]))
    if kind == "set_maximum_power_limit":
        return encoder.set_maximum_power_limit_token(key, rnd=RND, tid=tid, watts=vector["watts"])
    if kind == "set_maximum_phase_power_unbalance_limit":
        return encoder.set_maximum_phase_power_unbalance_limit_token(key, rnd=RND, tid=tid, watts=vector["watts"])
    if kind == "clear_credit":
        return encoder.clear_credit_token(key, rnd=RND, tid=tid, register=vector["register"])
    if kind == "clear_tamper_condition":
        return encoder.clear_tamper_token(key, rnd=RND, tid=tid)
    raise AssertionError(kind)


@pytest.mark.parametrize("vector", DATA["tid_tokens"], ids=lambda v: v["id"])
def test_tid_token_encodes_to_published_digits(vector: dict[str, Any]) -> None:
    assert _encode(vector).digits == vector["token"]


@pytest.mark.parametrize("vector", DATA["tid_tokens"], ids=lambda v: v["id"])
def test_tid_token_decodes_to_its_fields(vector: dict[str, Any]) -> None:
    p = params(_meter_overrides(vector))
    decoded = decode_token(vector["token"], derive_decoder_key(vending_key(vector), p))
    assert decoded.crc_ok
    if vector["kind"] == "credit":
        assert decoded.kind == ("electricity_credit", "water_credit", "gas_credit")[vector["subclass"]]
    else:
        assert decoded.kind == vector["kind"]
    assert decoded.rnd == RND
    assert decoded.tid == _tid(vector, p.base_date)
    if vector["kind"] == "credit":
        assert decoded.units is not None and decoded.units >= kwh_to_units(vector["amount_kwh"])
    elif vector["kind"] == "clear_credit":
        assert decoded.data == vector["register"]
    elif vector["kind"] == "clear_tamper_condition":
        assert decoded.data == 0


@pytest.mark.parametrize("vector", DATA["tid_tokens"][:6], ids=lambda v: v["id"])
def test_published_token_fails_crc_under_another_meters_key(vector: dict[str, Any]) -> None:
    other = params({**_meter_overrides(vector), "sgc": 654321})
    assert not decode_token(vector["token"], derive_decoder_key(vending_key(vector), other)).crc_ok


def test_ctsa09_step2_needs_the_next_minute() -> None:
    # Encoded with the published issue minute the token differs: the published one
    # uses the TID of the following minute (same-minute rule).
    vector = next(v for v in DATA["tid_tokens"] if v["id"] == "CTSA09 step 2")
    as_issued = dict(vector)
    del as_issued["tid_of"]
    assert _encode(as_issued).digits != vector["token"]
    assert _encode(vector).digits == vector["token"]


@pytest.mark.parametrize("vector", DATA["key_changes"], ids=lambda v: v["id"])
def test_key_change_sets(vector: dict[str, Any]) -> None:
    current = params(vector["current"])
    new = params(vector["new"])
    current_key = derive_decoder_key(vending_key(vector["current"]), current)
    new_key = derive_decoder_key(vending_key(vector["new"]), new)
    tokens = encoder.key_change_tokens(current_key, new_key, new, rollover=vector["rollover"])
    published = vector["tokens"]
    assert [t.digits for t in tokens[:len(published)]] == published
    assert [t.subclass for t in tokens] == [3, 4, 8, 9]

    # The meter side: decrypting with the current key gives back the new key and parameters.
    sections = [decode_token(t.digits, current_key).verified().key_change for t in tokens]
    fields: dict[str, int] = {}
    for section in sections:
        assert section is not None
        fields.update(section.fields())
    rebuilt = (fields["nkho"] << 96) | (fields["nkmo2"] << 64) | (fields["nkmo1"] << 32) | fields["nklo"]
    assert rebuilt.to_bytes(16, "big") == new_key
    assert (fields["sgcho"] << 12) | fields["sgclo"] == new.sgc
    assert (fields["kenho"] << 4) | fields["kenlo"] == new.ken
    assert (fields["krn"], fields["key_type"], fields["ti"]) == (new.krn, new.key_type, new.ti)
    assert fields["rollover"] == int(vector["rollover"]) and fields["reserved"] == 0

    # The software backend produces the same set, setting RO from the base dates.
    backend = SoftwareVendingBackend.single_key(vending_key())
    assert [t.digits for t in backend.vend_key_change(current, new)][:len(published)] == published

    after = vector.get("credit_after")
    if after:
        tid = tid_at(moment(after["issued"]), new.base_date)
        credit = encoder.credit_token(new_key, subclass=0, rnd=RND, tid=tid, units=kwh_to_units(after["amount_kwh"]))
        assert credit.digits == after["token"]
        assert not decode_token(after["token"], current_key).crc_ok


@pytest.mark.parametrize("vector", DATA["refusals"], ids=lambda v: v["id"])
def test_refusals(vector: dict[str, Any]) -> None:
    assert vector["expect"] == "key_expired"
    p = params(_meter_overrides(vector))
    backend = SoftwareVendingBackend.single_key(vending_key())
    tid = tid_at(moment(vector["issued"]), p.base_date)
    with pytest.raises(KeyExpired):
        backend.vend(p, CreditRequest(kwh_to_units(vector["amount_kwh"])), tid=tid, rnd=vector["rnd"])
