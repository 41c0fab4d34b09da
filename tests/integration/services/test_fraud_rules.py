"""Each inline fraud rule: a scenario that fires it and a near miss that does not (SQLite and PostgreSQL).

Every other rule sleeps (:data:`fraud_support.QUIET`) so a test sees its own rule only.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from vouchers.books.verify import verify
from vouchers.storage.models import Voucher
from tests.integration.redeem_api.world import ACCOUNT_ARREARS, ACCOUNT_CLEAN
from tests.integration.services.fraud_support import alerts, only, pay, redeem_card

MIN = dt.timedelta(minutes=1)


def test_velocity_account_cards_holds_the_card_over_the_limit_of_a_rolling_day(world, deps, now):
    deps = only(deps, account_cards=2, hold=("velocity.account_cards",))
    for card in world.cards[:2]:  # at the limit: nothing
        assert not redeem_card(world, deps, card, now).held
    assert alerts(world) == []
    third = redeem_card(world, deps, world.cards[2], now + MIN)
    assert third.held and third.document["status"] == "held" and third.document["amount"] == "100.00"
    assert alerts(world) == [("velocity.account_cards", ACCOUNT_CLEAN, "hold")]
    with world.sessions.begin() as s:
        assert verify(s).ok  # 100.00 on liability:held_funds, matched by the open hold
    # a day later the window has moved on: the next card is the only one
    assert not redeem_card(world, deps, world.cards[3], now + dt.timedelta(hours=25)).held
    assert len(alerts(world)) == 1


def test_velocity_account_amount_and_channel_structuring(world, deps, now):
    deps = only(deps, account_amount=15_000)
    pay(world, deps, 10_000, "VA-1", now, ACCOUNT_ARREARS)
    pay(world, deps, 5_000, "VA-2", now + MIN, ACCOUNT_ARREARS)  # exactly the limit: nothing
    assert alerts(world) == []
    paid = pay(world, deps, 1, "VA-3", now + 2 * MIN, ACCOUNT_ARREARS)
    assert paid.held is None and paid.booking.created  # alert only
    assert [a.rule for a in paid.alerts] == ["velocity.account_amount"]
    assert alerts(world) == [("velocity.account_amount", ACCOUNT_ARREARS, "alert")]

    # structuring (the same account, another configuration): just under the review threshold, repeatedly
    structuring = only(deps, review_threshold=100_000, structuring_band=10_000, structuring_count=3)
    pay(world, structuring, 95_000, "ST-1", now, ACCOUNT_ARREARS)
    pay(world, structuring, 96_000, "ST-2", now + MIN, ACCOUNT_ARREARS)
    pay(world, structuring, 100_000, "ST-3", now + 2 * MIN, ACCOUNT_ARREARS)  # at the threshold: reviewed anyway
    pay(world, structuring, 89_999, "ST-4", now + 3 * MIN, ACCOUNT_ARREARS)  # not just under
    assert alerts(world, "channel.structuring") == []
    pay(world, structuring, 99_999, "ST-5", now + 4 * MIN, ACCOUNT_ARREARS)
    assert alerts(world, "channel.structuring") == [("channel.structuring", ACCOUNT_ARREARS, "alert")]


def test_velocity_terminal_rate_and_opening_hours(world, deps, now):
    """One terminal in a rolling hour; then another terminal outside its site's opening hours."""
    rate = only(deps, terminal_per_hour=2)
    redeem_card(world, rate, world.cards[0], now, terminal="terminal")
    redeem_card(world, rate, world.cards[1], now + MIN, ACCOUNT_ARREARS, terminal="terminal")
    redeem_card(world, rate, world.cards[2], now + 2 * MIN, terminal="terminal2")  # another terminal
    assert alerts(world) == []
    redeem_card(world, rate, world.cards[3], now + 3 * MIN, terminal="terminal")
    assert alerts(world) == [("velocity.terminal_rate", world.client_ids["terminal"], "alert")]
    redeem_card(world, rate, world.cards[4], now + 2 * dt.timedelta(hours=1), terminal="terminal")  # hour over
    assert len(alerts(world)) == 1

    hours = only(deps, open_hour=7, close_hour=22)
    assert now.hour == 10
    redeem_card(world, hours, world.cards[5], now.replace(hour=21, minute=59), terminal="terminal2")
    assert len(alerts(world)) == 1
    redeem_card(world, hours, world.cards[6], now.replace(hour=22, minute=0), terminal="terminal2")
    assert alerts(world)[1:] == [("velocity.terminal_hours", world.client_ids["terminal2"], "alert")]


def test_opening_hours_per_site_inline(world, deps, now):
    """``terminal2`` keeps a late shop (10:00-02:00); ``terminal`` keeps the installation's 07:00-22:00; the
    counter channel closes at 18:00 (its own hours); an online channel has none."""
    late, plain = world.client_ids["terminal2"], world.client_ids["terminal"]
    hours = only(deps, open_hour=7, close_hour=22, site_hours={late: (10, 2), "counter_cash": (8, 18)})
    evening = now.replace(hour=23, minute=0)
    redeem_card(world, hours, world.cards[0], evening, terminal="terminal2")  # open late: quiet
    assert alerts(world) == []
    redeem_card(world, hours, world.cards[1], evening + MIN, terminal="terminal")  # the default: closed
    assert alerts(world) == [("velocity.terminal_hours", plain, "alert")]
    redeem_card(world, hours, world.cards[2], now.replace(hour=9, minute=30), terminal="terminal2")  # not open yet
    assert alerts(world)[1:] == [("velocity.terminal_hours", late, "alert")]
    pay(world, hours, 5_000, "CC-1", now.replace(hour=17, minute=59), channel="counter_cash")
    pay(world, hours, 5_000, "ALI-1", now.replace(hour=23, minute=30), channel="alipay")
    assert len(alerts(world)) == 2
    pay(world, hours, 5_000, "CC-2", now.replace(hour=18, minute=0), channel="counter_cash")
    assert alerts(world)[2:] == [("velocity.terminal_hours", "counter_cash", "alert")]


def test_insider_quick_redeem_holds_fresh_cards_concentrated_on_one_account(world, deps, now):
    """The world's cards were activated at ``now`` by D001."""
    deps = only(deps, quick_minutes=10, quick_cards=2, hold=("insider.quick_redeem",))
    redeem_card(world, deps, world.cards[0], now + 5 * MIN)
    redeem_card(world, deps, world.cards[1], now + 6 * MIN, ACCOUNT_ARREARS)  # another account
    redeem_card(world, deps, world.cards[2], now + 30 * MIN)  # not quick
    assert alerts(world) == []
    held = redeem_card(world, deps, world.cards[3], now + 9 * MIN)
    assert held.held
    assert alerts(world) == [("insider.quick_redeem", "D001", "hold")]


def test_stolen_near_void_holds_a_card_near_a_voided_range_of_its_batch(world, deps, now):
    deps = only(deps, void_distance=3, hold=("stolen.near_void",))
    _, cards = world.new_batch(20, activate_count=14)
    with world.sessions.begin() as s:  # unsold cards 15..19 of the box were stolen and voided
        s.execute(update(Voucher).where(Voucher.serial.in_([c.serial for c in cards[15:]])).values(status="void"))
    assert not redeem_card(world, deps, cards[10], now).held  # 5 serials before the voided range
    assert not redeem_card(world, deps, cards[11], now).held  # 4
    assert alerts(world) == []
    assert redeem_card(world, deps, cards[12], now).held  # 3
    assert [a[0] for a in alerts(world)] == ["stolen.near_void"]


def test_stolen_near_void_across_batches_counts_through_the_boundary(world, deps, now):
    """The last five cards of box A were stolen and voided; box B (issued next) is sold: its first cards are
    as near the stolen ones as A's own. Inline and scan agree."""
    from vouchers.services.fraud_scan import scan

    deps = only(deps, void_distance=3, hold=("stolen.near_void",))
    _, box_a = world.new_batch(20)
    _, box_b = world.new_batch(20, activate_count=6)
    with world.sessions.begin() as s:
        s.execute(update(Voucher).where(Voucher.serial.in_([c.serial for c in box_a[15:]])).values(status="void"))
    assert not redeem_card(world, deps, box_b[3], now + MIN).held  # B's 4th card: 4 serials past A's last
    assert alerts(world) == []
    assert redeem_card(world, deps, box_b[2], now + 2 * MIN).held  # B's 3rd: 3 past A's last (void)
    assert [a[0] for a in alerts(world)] == ["stolen.near_void"]
    with world.sessions.begin() as s:
        found = scan(s, since=now, until=now + dt.timedelta(hours=1), cfg=deps.fraud, tz=now.tzinfo,
                     now=now + dt.timedelta(hours=1))
    assert found.flagged.get("stolen.near_void", set()) == set()  # the held card has no payment row yet
    pay_day = only(deps, void_distance=4)  # 4: B's 4th card is near too - seen by the scan over its payment
    with world.sessions.begin() as s:
        found = scan(s, since=now, until=now + dt.timedelta(hours=1), cfg=pay_day.fraud, tz=now.tzinfo,
                     now=now + dt.timedelta(hours=1))
    assert found.flagged["stolen.near_void"] == {f"voucher:{box_b[3].serial}"}




def test_insider_staff_match_flags_money_onto_an_account_sharing_a_staff_phone_or_address(world, deps, now,
                                                                                         monkeypatch):
    from tests.staff_helpers import GOOD_PASSWORD, cheap_argon2
    from vouchers.books.customers import normalise_address
    from vouchers.services.fraud_scan import scan
    from vouchers.services.staff import set_contact
    from vouchers.staff.accounts import create_staff
    from vouchers.storage.ledger_models import CustomerAccount

    with world.sessions.begin() as s:
        cheap_argon2(monkeypatch)
        create_staff(s, username="clerk1", roles=("customer_service",), password=GOOD_PASSWORD,
                     seal_key=b"k" * 32, now=now, actor="setup")
        s.execute(update(CustomerAccount).where(CustomerAccount.account_no == ACCOUNT_CLEAN)
                  .values(phone="13800001234"))
        s.execute(update(CustomerAccount).where(CustomerAccount.account_no == ACCOUNT_ARREARS)
                  .values(address=normalise_address("8 Riverside Road, Block 2")))
    rules = only(deps)  # every other rule asleep; staff_match has no threshold
    redeem_card(world, rules, world.cards[0], now + MIN)  # nobody's contact details recorded yet
    assert alerts(world) == []
    with world.sessions.begin() as s:
        set_contact(s, "clerk1", phone="138-0000 1234", address=None, now=now, actor="admin")
    redeem_card(world, rules, world.cards[1], now + 2 * MIN)  # the clerk's phone: fires
    assert alerts(world) == [("insider.staff_match", "clerk1", "alert")]
    pay(world, rules, 5_000, "SM-1", now + 3 * MIN, ACCOUNT_ARREARS)  # another address: quiet
    assert len(alerts(world)) == 1
    with world.sessions.begin() as s:
        set_contact(s, "clerk1", phone=None, address="8 riverside road,  block 2", now=now, actor="admin")
    pay(world, rules, 5_000, "SM-2", now + 4 * MIN, ACCOUNT_ARREARS)  # the same address spelt otherwise
    assert alerts(world)[1:] == [("insider.staff_match", "clerk1", "alert")]
    # the scan decides the same rule with today's contact details: it also finds the money that came in before
    # they were recorded (the first card, SM-1), and records the two flagged inline once
    with world.sessions.begin() as s:
        found = scan(s, since=now, until=now + dt.timedelta(hours=1), cfg=rules.fraud, tz=now.tzinfo,
                     now=now + dt.timedelta(hours=1))
    assert found.hits["insider.staff_match"] == 4 and found.recorded == 2
