"""The money-in service itself, without an edge, on SQLite and PostgreSQL."""
from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import func, select

from vouchers.books.customers import create_customer
from vouchers.storage.ledger_models import Payment
from vouchers.storage.sts_models import StsVend
from tests.integration.redeem_api.world import ACCOUNT_ARREARS, ACCOUNT_CLEAN
from tests.integration.services.conftest import decode, energy_sold, outbox
from vouchers.vending.errors import UnknownMeter
from vouchers.services import money_in
from vouchers.services.errors import NothingToVend


def _count(world, model) -> int:  # type: ignore[no-untyped-def]
    with world.sessions.begin() as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


def test_a_payment_onto_a_keypad_meter_vends_books_the_sale_and_queues_the_token_sms(world, deps, now):
    payment = money_in.ChannelPayment("counter_cash", ACCOUNT_CLEAN, 10_000, "SVC-1", now)
    with world.sessions.begin() as s:
        paid = money_in.pay(s, payment, now=now, deps=deps, actor="clerk")
    assert paid.booking.created and paid.booking.credited_to_balance == 10_000
    assert paid.vend is not None and paid.vend.result is not None and paid.vend.sold_minor == 10_000
    assert decode(world, paid.vend.sts_object()["token"]).units == paid.vend.result.units
    assert paid.balance == 0 and world.balance(ACCOUNT_CLEAN) == (0, 0)  # the money became energy
    assert energy_sold(world) == 10_000
    assert paid.kwh["credited_kwh"] == paid.vend.result.tariff_kwh  # what the token gave
    [sms] = outbox(world, "sms.sts_token")
    assert sms["sts"] == paid.vend.sts_object() and sms["payment_id"] == str(paid.booking.payment_id)

    with world.sessions.begin() as s:  # the same payment again: its first token, nothing booked twice
        again = money_in.pay(s, payment, now=now, deps=deps, actor="clerk")
    assert not again.booking.created and again.vend.result.replayed
    assert again.vend.result.token == paid.vend.result.token
    assert (energy_sold(world), _count(world, StsVend), len(outbox(world, "sms.sts_token"))) == (10_000, 1, 1)


def test_money_for_an_account_without_a_meter_never_needs_the_vending_keys(world, deps, now):
    def no_keys():  # type: ignore[no-untyped-def]
        raise AssertionError("the vending backend was built for an account without a meter")

    deps = dataclasses.replace(deps, vending=no_keys)
    with world.sessions.begin() as s:
        paid = money_in.pay(s, money_in.ChannelPayment("alipay", ACCOUNT_ARREARS, 5_000, "SVC-2", now), now=now,
                            deps=deps)
    assert paid.vend is None and paid.kwh == {}
    assert (paid.booking.applied_to_arrears, paid.booking.credited_to_balance, paid.balance) == (3_000, 2_000, 2_000)
    assert outbox(world, "sms.sts_token") == []


def test_a_required_token_refuses_what_cannot_have_one(world, deps, now):
    """``sts vend`` sells a token: no meter, or no money left after the arrears, is a refusal."""
    with world.sessions.begin() as s:
        create_customer(s, "3100000009", "no meter", now=now)
    for account_no, error in (("3100000009", UnknownMeter), (ACCOUNT_ARREARS, NothingToVend)):
        payment = money_in.ChannelPayment("counter_cash", account_no, 3_000, f"REQ-{account_no}", now)
        with pytest.raises(error), world.sessions.begin() as s:
            money_in.pay(s, payment, now=now, deps=deps, token_required=True)
    assert _count(world, Payment) == 0 and _count(world, StsVend) == 0  # rolled back


def test_all_of_the_money_to_arrears_says_so_without_a_token(world, deps, now):
    """A keypad account whose money all pays arrears: an ``sts`` object with no token, no energy sold."""
    from vouchers.books.customers import create_customer as create
    from vouchers.metering.accounts import assign_tariff
    from tests.integration.services.conftest import CATALOG
    from vouchers.vending.meters import add_meter

    with world.sessions.begin() as s:
        create(s, "3100000008", "owes", arrears=5_000, arrears_due=now.date(), now=now)
        assign_tariff(s, "3100000008", tariff_id="fj-residential", customer_class="residential",
                      payment_mode="prepaid", area="Xiamen", meter_no="M8", catalog=CATALOG, now=now)
        add_meter(s, pan="600727000000000017", account_no="3100000008", sgc=123457, ti=1, krn=1, key_type=2,
                  ken=255, base_date=2014, now=now)
    with world.sessions.begin() as s:
        paid = money_in.pay(s, money_in.ChannelPayment("alipay", "3100000008", 2_000, "ARR-1", now), now=now,
                            deps=deps)
    assert paid.vend is not None and paid.vend.result is None and paid.vend.sold_minor == 0
    assert paid.vend.sts_object()["token"] is None and paid.vend.sts_object()["meter"] == "600727000000000017"
    assert energy_sold(world) == 0 and outbox(world, "sms.sts_token") == []


def test_money_in_another_currency_is_refused_before_anything_is_posted(world, deps, now):
    """Every channel goes through :func:`money_in.money_in`: the currency is checked there, before the late fee."""
    from vouchers.books.errors import CurrencyMismatch
    from vouchers.storage.ledger_models import LedgerTransaction

    before = _count(world, LedgerTransaction)
    payment = money_in.ChannelPayment("alipay", ACCOUNT_ARREARS, 5_000, "SVC-USD", now, currency="USD")
    with pytest.raises(CurrencyMismatch, match="CNY"), world.sessions.begin() as s:
        money_in.pay(s, payment, now=now, deps=deps)
    assert (_count(world, Payment), _count(world, LedgerTransaction)) == (0, before)
    with world.sessions.begin() as s:
        paid = money_in.pay(s, dataclasses.replace(payment, currency="CNY"), now=now, deps=deps)
    assert paid.booking.created and paid.booking.currency == "CNY"
