"""The scheduled scan (``voucherctl fraud scan``): the inline rules over a range, and the rules that only the
scan sees (bulk same-day redemption, reversal rate, refund after use); each fires and has a near miss."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest

from vouchers.books.corrections import reverse_payment
from vouchers.books.payments import post_payment
from tests.inprocess_cli import in_process_cli
from tests.integration.redeem_api.world import ACCOUNT_ARREARS, ACCOUNT_CLEAN, PASSPHRASE, WEB_PASSPHRASE
from tests.integration.services.fraud_support import QUIET, alerts, only, pay, redeem_card
from vouchers.services.fraud_config import FraudConfig
from vouchers.services.fraud_scan import scan

DAY, HOUR = dt.timedelta(days=1), dt.timedelta(hours=1)


@pytest.fixture
def cli(world, now, monkeypatch, capsys):
    monkeypatch.setenv("VOUCHER_KEY_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("VOUCHER_WEB_PASSPHRASE", WEB_PASSPHRASE)
    monkeypatch.delenv("VOUCHER_TARIFF_DIR", raising=False)
    yield from in_process_cli(world.db_url, world.home, monkeypatch, capsys, now=now + 2 * DAY)


def _scan(world, cfg, since, until):  # type: ignore[no-untyped-def]
    with world.sessions.begin() as s:
        return scan(s, since=since, until=until, cfg=cfg, tz=since.tzinfo, now=until)


def test_the_scan_finds_what_no_inline_check_saw_once_and_agrees_with_the_inline_rule(world, deps, now, cli):
    off = dataclasses.replace(deps, fraud=dataclasses.replace(QUIET, enabled=False))
    for i, card in enumerate(world.cards[:3]):
        redeem_card(world, off, card, now + i * HOUR)
    assert alerts(world) == []
    near_miss = _scan(world, dataclasses.replace(QUIET, account_cards=3), now - HOUR, now + DAY)
    assert near_miss.events == 3 and not near_miss.hits
    code, out, err = cli("fraud", "scan", "--since", (now - HOUR).isoformat(), "--json",
                         "--until", (now + DAY).isoformat())
    assert code == 0, err  # the file's defaults: 5 cards a day, not reached
    assert json.loads(out)["events"] == 3 and json.loads(out)["recorded"] == 0
    fired = _scan(world, dataclasses.replace(QUIET, account_cards=2), now - HOUR, now + DAY)
    assert fired.hits == {"velocity.account_cards": 1} and fired.recorded == 1
    assert alerts(world) == [("velocity.account_cards", ACCOUNT_CLEAN, "alert")]
    again = _scan(world, dataclasses.replace(QUIET, account_cards=2), now - HOUR, now + DAY)
    assert again.hits == {"velocity.account_cards": 1} and again.recorded == 0  # recorded once
    # the inline check of a fourth card (same rule, same counts) and the scan agree
    inline = redeem_card(world, only(deps, account_cards=2), world.cards[3], now + 3 * HOUR)
    assert [a.rule for a in inline.money.alerts] == ["velocity.account_cards"]
    assert _scan(world, dataclasses.replace(QUIET, account_cards=2), now - HOUR, now + DAY).recorded == 0


def test_insider_bulk_same_day_needs_enough_of_an_activation_redeemed_on_its_day(world, deps, now):
    """The world's eight cards were activated at ``now`` (10:00 local) in one activation."""
    cfg = dataclasses.replace(QUIET, bulk_cards=8, bulk_redeemed=3)
    quiet = only(deps)
    redeem_card(world, quiet, world.cards[0], now + HOUR)
    redeem_card(world, quiet, world.cards[1], now + 2 * HOUR, ACCOUNT_ARREARS)
    redeem_card(world, quiet, world.cards[2], now + 15 * HOUR)  # 01:00 the next local day
    assert not _scan(world, cfg, now - HOUR, now + 2 * DAY).hits
    redeem_card(world, quiet, world.cards[3], now + 13 * HOUR)  # 23:00 the same day
    assert _scan(world, cfg, now - HOUR, now + 2 * DAY).hits == {"insider.bulk_same_day": 1}
    assert alerts(world) == [("insider.bulk_same_day", "D001", "alert")]


def _alipay_days(world, now, days):  # type: ignore[no-untyped-def]
    """``(payments, reversed)`` of alipay per day: today first, then each day before."""
    with world.sessions.begin() as s:
        n = 0
        for back, (payments, reversals) in enumerate(days):
            day = now - back * DAY
            for i in range(payments):
                n += 1
                p = post_payment(s, "alipay", ACCOUNT_ARREARS, 100, f"RR-{n}", day + i * dt.timedelta(minutes=5), day)
                if i < reversals:
                    reverse_payment(s, p.payment_id, now=day + HOUR, actor="t", reason="refund")


def test_channel_reversal_rate_against_the_channels_baseline(world, now):
    cfg = dataclasses.replace(QUIET, reversal_min=3, reversal_factor=3, reversal_floor_bp=200)
    _alipay_days(world, now, ((10, 3), (10, 2), (10, 0), (10, 1)))  # today, then 3 days
    # yesterday: 2 of 10 is under the minimum count; today: 3 of 10 = 30% against a 10% baseline (3/30)... x3 = 30%
    assert not _scan(world, cfg, now - DAY - HOUR, now - 2 * HOUR).hits
    assert not _scan(world, cfg, now - HOUR, now + DAY).hits  # 3000 bp is not above 3 x 1000 bp
    fired = _scan(world, dataclasses.replace(cfg, reversal_factor=2), now - HOUR, now + DAY)
    # four days of books: too early to judge the one operator who reversed them (channel.reversal_operator)
    assert fired.hits == {"channel.reversal_rate": 1}
    assert alerts(world, "channel.reversal_rate") == [("channel.reversal_rate", "alipay", "alert")]


def test_channel_reversal_rate_days_that_fired_before_the_range_stay_out_of_its_baseline(world, now):
    """Three incident days in a row before the scanned day, two quiet days before them: with the fired days in
    it, the median of the five days before today would be an incident's rate (3000 bp) and hide today's."""
    cfg = dataclasses.replace(QUIET, reversal_min=3, reversal_factor=2, reversal_floor_bp=200)
    _alipay_days(world, now, ((10, 3), (10, 3), (10, 3), (10, 3), (10, 0), (10, 1)))  # today, 3 incident days, 2 quiet
    fired = _scan(world, cfg, now - HOUR, now + DAY)  # today only: the days before are the warm-up
    assert fired.hits == {"channel.reversal_rate": 1}
    assert alerts(world, "channel.reversal_rate") == [("channel.reversal_rate", "alipay", "alert")]


def test_reversal_rate_per_operator_against_the_operators_own_baseline(world, now):
    """alice reverses one payment every day; today she reverses 3 (not above 3 x her 1)
    and mallory, who never reverses, reverses 3 too: only mallory fires."""
    cfg = dataclasses.replace(QUIET, reversal_min=3, reversal_factor=3, reversal_floor_bp=200)
    with world.sessions.begin() as s:
        n = 0
        history = tuple((back, 4, {"alice": 1}) for back in range(1, 8))  # a week of books before today
        for back, payments, reversals in ((0, 20, {"alice": 3, "mallory": 3}), *history):
            day = now - back * DAY
            ids = []
            for i in range(payments):
                n += 1
                channel = ("alipay", "wechat_pay", "bank_counter")[n % 3]  # spread: no channel stands out
                ids.append(post_payment(s, channel, ACCOUNT_ARREARS, 100, f"RO-{n}", day + i * dt.timedelta(minutes=5),
                                        day).payment_id)
            for actor, count in reversals.items():
                for _ in range(count):
                    reverse_payment(s, ids.pop(), now=day + 2 * HOUR, actor=actor, reason="refund")
    fired = _scan(world, cfg, now - HOUR, now + DAY)
    assert fired.hits.get("channel.reversal_operator") == 1
    assert alerts(world, "channel.reversal_operator") == [("channel.reversal_operator", "mallory", "alert")]
    # a near miss for mallory: four reversals are needed
    quiet = _scan(world, dataclasses.replace(cfg, reversal_min=4), now - HOUR, now + DAY)
    assert "channel.reversal_operator" not in quiet.hits


def test_channel_refund_after_use_needs_a_token_vended_before_the_refund(world, deps, now):
    quiet = only(deps)
    used = pay(world, quiet, 10_000, "RU-1", now, ACCOUNT_CLEAN)  # a keypad meter: a token was vended
    unused = pay(world, quiet, 10_000, "RU-2", now, ACCOUNT_ARREARS)  # no meter: nothing used
    assert used.vend is not None and unused.vend is None
    with world.sessions.begin() as s:
        reverse_payment(s, unused.booking.payment_id, now=now + HOUR, actor="t", reason="refund")
    assert not _scan(world, QUIET, now - HOUR, now + DAY).hits
    with world.sessions.begin() as s:
        reverse_payment(s, used.booking.payment_id, now=now + HOUR, actor="t", reason="refund")
    assert _scan(world, QUIET, now - HOUR, now + DAY).hits == {"channel.refund_after_use": 1}
    assert alerts(world) == [("channel.refund_after_use", ACCOUNT_CLEAN, "alert")]


def test_an_imported_payments_file_is_screened_by_the_same_rules_at_import(world, now, cli, tmp_path):
    """Three payments just under the review threshold (1000.00) onto one account in a day: structuring, raised by
    ``payments import`` itself; two such payments onto another account (the near miss) raise nothing."""
    local = now.astimezone(now.tzinfo)
    lines = [f"IMP-{i},{account},950.00,CNY,{(local + i * HOUR).isoformat()}"
             for i, account in enumerate((ACCOUNT_CLEAN, ACCOUNT_CLEAN, ACCOUNT_CLEAN, ACCOUNT_ARREARS,
                                          ACCOUNT_ARREARS))]
    path = tmp_path / "alipay_import.csv"
    path.write_text("external_ref,account_no,amount,currency,paid_at\n" + "\n".join(lines) + "\n", encoding="utf-8")
    code, out, err = cli("payments", "import", "--channel", "alipay", str(path), "--json")
    assert code == 0, err
    document = json.loads(out)
    assert document["booked"] == 5
    assert document["fraud"] == {"hits": {"channel.structuring": 1}, "recorded": 1}
    assert alerts(world) == [("channel.structuring", ACCOUNT_CLEAN, "alert")]
    # the scan over the same range agrees and records nothing new (one alert per rule and event)
    rescan = _scan(world, FraudConfig(), now - HOUR, now + DAY)
    assert rescan.hits.get("channel.structuring") == 1 and rescan.recorded == 0
