"""The vending port and its software implementation."""
from __future__ import annotations

from datetime import datetime

import pytest

from vouchers.sts.backend import (
    ClearCreditRequest,
    ClearTamperRequest,
    CreditRequest,
    SetMaximumPhasePowerUnbalanceLimitRequest,
    SetMaximumPowerLimitRequest,
    SoftwareVendingBackend,
    VendingBackend,
)
from vouchers.sts.decoder import decode_token
from vouchers.sts.dkga04 import MeterKeyParams, derive_decoder_key
from vouchers.sts.errors import CrcMismatch, InvalidAmount, InvalidField, KeyExpired, UnsupportedToken
from vouchers.sts.tid import BaseDate, tid_at
from vouchers.sts.transposition import to_digits, transpose_class

from .vectors import compliance, load, params, vending_key

WALK = load("ctsa01_step1_walkthrough.json")
TID = WALK["intermediates"]["tid"]


def backend(**kwargs: object) -> SoftwareVendingBackend:
    return SoftwareVendingBackend.single_key(vending_key(), **kwargs)  # type: ignore[arg-type]


def test_software_backend_satisfies_the_port() -> None:
    assert isinstance(backend(), VendingBackend)


def test_vends_the_published_credit_token() -> None:
    token = backend().vend(params(), CreditRequest(units=1), tid=TID, rnd=5)
    assert token.digits == WALK["token"]
    assert (token.token_class, token.subclass, token.tid) == (0, 0, TID)
    assert token.grouped == "5938 6323 4721 3742 6967"


def test_vends_each_engineering_token_kind() -> None:
    vectors = {v["id"]: v for v in compliance()["tid_tokens"]}
    cases = [
        (SetMaximumPowerLimitRequest(1000), vectors["CTSA03 step 1"]),
        (ClearCreditRequest(), vectors["CTSA04 step 1"]),
        (ClearTamperRequest(), vectors["CTSA06 step 1"]),
        (SetMaximumPhasePowerUnbalanceLimitRequest(10), vectors["CTSA07 step 1"]),
        (ClearCreditRequest(register=4), vectors["CTSA14 step 3"]),
    ]
    for request, vector in cases:
        tid = tid_at(datetime.fromisoformat(vector["issued"]), BaseDate.Y1993)
        assert backend().vend(params(), request, tid=tid, rnd=5).digits == vector["token"], vector["id"]


def test_rnd_comes_from_the_injected_source_when_not_given() -> None:
    token = backend(random_nibble=lambda: 5).vend(params(), CreditRequest(units=1), tid=TID)
    assert token.digits == WALK["token"]
    other = backend(random_nibble=lambda: 6).vend(params(), CreditRequest(units=1), tid=TID)
    assert other.digits != WALK["token"]
    assert decode_token(other.digits, derive_decoder_key(vending_key(), params())).rnd == 6


def test_default_rnd_is_random_and_in_range() -> None:
    key = derive_decoder_key(vending_key(), params())
    seen = {decode_token(backend().vend(params(), CreditRequest(units=1), tid=TID).digits, key).rnd
            for _ in range(200)}
    assert len(seen) > 8 and seen <= set(range(16))


def test_vending_key_is_looked_up_per_meter() -> None:
    asked: list[MeterKeyParams] = []

    def lookup(meter: MeterKeyParams) -> bytes:
        asked.append(meter)
        return vending_key()

    token = SoftwareVendingBackend(lookup).vend(params(), CreditRequest(units=1), tid=TID, rnd=5)
    assert token.digits == WALK["token"] and asked == [params()]


def test_ken_is_enforced() -> None:
    meter = params({"ken": 0x59})  # TID 5871660 = 0x59982C: high byte 0x59
    backend().vend(meter, CreditRequest(units=1), tid=TID, rnd=5)
    with pytest.raises(KeyExpired):
        backend().vend(params({"ken": 0x58}), CreditRequest(units=1), tid=TID, rnd=5)


@pytest.mark.parametrize("request_, error", [
    (CreditRequest(units=18_201_625), InvalidAmount),
    (CreditRequest(units=-1), InvalidAmount),
    (CreditRequest(units=1, subclass=4), InvalidField),
    (ClearCreditRequest(register=0x10000), InvalidField),
    (SetMaximumPowerLimitRequest(watts=18_201_625), InvalidAmount),
])
def test_bad_requests_are_refused(request_: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        backend().vend(params(), request_, tid=TID, rnd=5)  # type: ignore[arg-type]


@pytest.mark.parametrize("rnd, tid", [(16, TID), (-1, TID), (5, 1 << 24), (5, -1)])
def test_bad_rnd_or_tid_is_refused(rnd: int, tid: int) -> None:
    with pytest.raises(InvalidField):
        backend().vend(params(), CreditRequest(units=1), tid=tid, rnd=rnd)


def test_unknown_request_type_is_refused() -> None:
    with pytest.raises(InvalidField):
        backend().vend(params(), object(), tid=TID, rnd=5)  # type: ignore[arg-type]


def test_key_change_keeps_the_pan() -> None:
    with pytest.raises(InvalidField):
        backend().vend_key_change(params(), params({"pan": "000001000000000082", "ti": 2}))


def test_decode_through_the_backend() -> None:
    decoded = backend().decode(params(), WALK["token"])
    assert decoded.verified().units == 1
    wrong = backend().decode(params({"ti": 2}), WALK["token"])
    assert not wrong.crc_ok
    with pytest.raises(CrcMismatch):
        wrong.verified()


def test_decoder_refuses_class_1_and_3() -> None:
    key = derive_decoder_key(vending_key(), params())
    for token_class in (1, 3):
        with pytest.raises(UnsupportedToken):
            decode_token(to_digits(transpose_class(0x0123456789ABCDEF, token_class)), key)


def test_decoded_field_accessors_by_kind() -> None:
    vectors = {v["id"]: v for v in compliance()["tid_tokens"]}
    key = derive_decoder_key(vending_key(), params())
    mpl = decode_token(vectors["CTSA12 step 4"]["token"], key)
    assert mpl.kind == "set_maximum_power_limit" and mpl.data == 0x416A and mpl.units is None
    assert mpl.key_change is None and mpl.has_tid
    tamper = decode_token(vectors["CTSA06 step 1"]["token"], key)
    assert tamper.kind == "clear_tamper_condition" and tamper.data == 0
    kc = decode_token(compliance()["key_changes"][0]["tokens"][0], key)
    assert kc.kind == "set_1st_section_decoder_key" and not kc.has_tid
    assert (kc.rnd, kc.tid, kc.data, kc.tid_body) == (None, None, None, None)
    assert kc.key_change is not None and kc.key_change.fields()["krn"] == 1


def test_urandom_nibbles_refill_and_stay_in_range() -> None:
    from collections import Counter

    from vouchers.sts.backend import UrandomNibbles

    source = UrandomNibbles()
    counts = Counter(source() for _ in range(5000))  # several 1024-nibble refills
    assert set(counts) == set(range(16))
    assert min(counts.values()) > 150  # about 312 each; a stuck or biased source fails


def test_token_digits_stay_out_of_repr() -> None:
    from vouchers.sts.encoder import credit_token

    vended = backend().vend(params(), CreditRequest(units=1), tid=TID, rnd=5)
    encoded = credit_token(bytes.fromhex(WALK["intermediates"]["decoder_key"]), subclass=0, rnd=5, tid=TID, units=1)
    for value in (vended, encoded):
        assert WALK["token"] not in repr(value)
        assert WALK["intermediates"]["plaintext_block"] not in repr(value).lower()
