"""The redeem service without an edge: claim, money in, receipt; refusals as domain errors."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from vouchers.storage.api_models import Redemption
from vouchers.storage.models import Voucher
from tests.integration.redeem_api.world import ACCOUNT_CLEAN, WEB_PASSPHRASE
from tests.integration.services.conftest import decode, energy_sold, outbox
from vouchers.services import fraud
from vouchers.services.errors import UnknownPayee, VoucherRefused
from vouchers.services.redeem import RedeemRequest, VoucherKeys, redeem


def _keys(world, canaries: frozenset[str] = frozenset()) -> VoucherKeys:  # type: ignore[no-untyped-def]
    return VoucherKeys(world.store.pepper(WEB_PASSPHRASE), world.store.keyring(), canaries)


def _request(code: str, account_no: str = ACCOUNT_CLEAN) -> RedeemRequest:
    return RedeemRequest(code, account_no, "terminal", "terminal:test")


def test_a_card_onto_a_keypad_meter_account_becomes_a_token_and_a_receipt(world, deps, now):
    card = world.cards[0]
    with world.sessions.begin() as s:
        done = redeem(s, _request(card.code), keys=_keys(world), deps=deps, now=now, today=now.date())
    assert done.money.booking.serial == card.serial and done.money.booking.credited_to_balance == 10_000
    sts = done.document["sts"]
    assert decode(world, sts["token"]).units == done.money.vend.result.units
    assert done.document["balance"] == "0.00" and energy_sold(world) == 10_000  # sold as energy
    assert done.document["credited_kwh"] == sts["tariff_kwh"]
    [sms] = outbox(world, "sms.voucher_redeemed")
    assert sms == {"template": "voucher_redeemed", **done.document}
    with world.sessions.begin() as s:
        row = s.execute(select(Redemption).where(Redemption.redemption_id == done.redemption_id)).scalar_one()
        assert (row.serial, row.account_no, row.amount) == (card.serial, ACCOUNT_CLEAN, 10_000)
        assert s.execute(select(Voucher.status).where(Voucher.serial == card.serial)).scalar_one() == "redeemed"


def test_refusals_are_domain_errors_carrying_their_fraud_alerts(world, deps, now):
    inactive, canary, used = world.cards[-1], world.cards[1], world.cards[2]
    keys = _keys(world, frozenset({canary.serial}))
    with world.sessions.begin() as s:
        redeem(s, _request(used.code), keys=keys, deps=deps, now=now, today=now.date())
    cases = ((_request(used.code, "3199999999"), UnknownPayee, None),
             (_request(inactive.code), VoucherRefused, fraud.INACTIVE_VOUCHER),
             (_request(canary.code), VoucherRefused, fraud.CANARY_SERIAL),
             (_request(used.code), VoucherRefused, None))  # redeemed already: no alert, the same refusal
    for request, error, alert in cases:
        with pytest.raises(error) as caught, world.sessions.begin() as s:
            redeem(s, request, keys=keys, deps=deps, now=now, today=now.date())
        assert caught.value.alert == alert and caught.value.counted
    with world.sessions.begin() as s:  # the canary claimed and refused: the rollback gave it back
        assert s.execute(select(Voucher.status).where(Voucher.serial == canary.serial)).scalar_one() == "active"
