"""The fraud rules without a database: settings from the environment, the pure decision, the catalogue."""
from __future__ import annotations

import datetime as dt

import pytest

from vouchers.config import ConfigError, Settings
from vouchers.services.fraud_config import FraudConfig
from vouchers.services.fraud_rules import RULES, Event, Facts, decide, outside_hours

AT = dt.datetime(2026, 11, 26, 2, 0, tzinfo=dt.timezone.utc)


def test_settings_come_from_the_environment_in_yuan_and_bad_ones_are_one_line():
    cfg = Settings.from_env({"VOUCHER_FRAUD_ACCOUNT_AMOUNT": "2000.00", "VOUCHER_FRAUD_ACCOUNT_CARDS": "4",
                             "VOUCHER_FRAUD_ACTIONS": "velocity.account_cards=hold, stolen.near_void=alert"}).fraud
    assert (cfg.account_amount, cfg.account_cards) == (200_000, 4)
    assert cfg.action("velocity.account_cards", "alert") == "hold" and cfg.action("channel.structuring", "x") == "x"
    for bad in ({"VOUCHER_FRAUD_ACCOUNT_CARDS": "0"}, {"VOUCHER_FRAUD_ACCOUNT_AMOUNT": "lots"},
                {"VOUCHER_FRAUD_ACTIONS": "velocity.account_cards=block"}):
        with pytest.raises(ConfigError) as caught:
            Settings.from_env(bad)
        assert "\n" not in str(caught.value) and next(iter(bad)) in str(caught.value)


def test_every_rule_has_a_stable_id_and_both_languages():
    for rule_id, rule in RULES.items():
        assert rule.id == rule_id and rule.en and rule.zh and rule.action == "alert"


def test_opening_hours_also_span_midnight():
    day = FraudConfig(open_hour=7, close_hour=22)
    assert [outside_hours(day, h) for h in (6, 7, 21, 22)] == [True, False, False, True]
    night = FraudConfig(open_hour=20, close_hour=4)
    assert [outside_hours(night, h) for h in (3, 4, 19, 20)] == [False, True, True, False]


def test_decide_is_at_the_threshold_quiet_and_over_it_fires():
    cfg = FraudConfig(account_cards=5)
    card = Event("redemption", "3100000001", 10_000, "voucher", AT, 10)
    assert decide(cfg, card, Facts(account_cards_day=5, account_amount_day=50_000)) == []
    [hit] = decide(cfg, card, Facts(account_cards_day=6, account_amount_day=60_000))
    assert (hit.rule, hit.subject_type, hit.subject_id) == ("velocity.account_cards", "account", "3100000001")
