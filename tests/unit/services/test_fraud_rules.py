"""The fraud rules without a database: settings from the environment, the pure decision, the catalogue."""
from __future__ import annotations

import datetime as dt

import pytest

from vouchers.config import ConfigError, Settings
from vouchers.services.fraud_config import FraudConfig
from vouchers.services.fraud_rules import (RULES, Event, Facts, decide, median_rate_bp, outside_hours,
                                           reversal_rate_days)

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


def test_opening_hours_per_site_with_the_installations_as_default():
    cfg = Settings.from_env({"VOUCHER_FRAUD_OPEN_HOUR": "7", "VOUCHER_FRAUD_CLOSE_HOUR": "22",
                             "VOUCHER_FRAUD_SITE_HOURS": "c_late=10-2; counter_cash=8-18"}).fraud
    assert cfg.site_hours == {"c_late": (10, 2), "counter_cash": (8, 18)}

    def fired(local_hour: int, *, terminal: str | None = None, channel: str = "voucher", kind: str = "redemption"):
        event = Event(kind, "3100000001", 10_000, channel, AT, local_hour, terminal=terminal)
        return [(h.subject_type, h.subject_id) for h in decide(cfg, event, Facts()) if h.rule == "velocity.terminal_hours"]

    # a terminal with hours of its own (open over midnight): 23:00 and 01:00 are open, 07:00 is not
    assert fired(23, terminal="c_late") == [] and fired(1, terminal="c_late") == []
    assert fired(7, terminal="c_late") == [("terminal", "c_late")]
    # any other terminal keeps the installation's [7, 22)
    assert fired(7, terminal="c_other") == [] and fired(23, terminal="c_other") == [("terminal", "c_other")]
    # a counter channel with hours of its own: its payments are checked, the channel is the case's subject
    assert fired(9, channel="counter_cash", kind="payment") == []
    assert fired(19, channel="counter_cash", kind="payment") == [("channel", "counter_cash")]
    # an online channel without hours of its own takes payments at any hour
    assert fired(3, channel="alipay", kind="payment") == []
    for bad in ("c_x=8", "c_x=25-3", "=8-9", "c_x=8-8", "c_x=a-b"):
        with pytest.raises(ConfigError) as caught:
            Settings.from_env({"VOUCHER_FRAUD_SITE_HOURS": bad})
        assert "\n" not in str(caught.value)


def _days(start: dt.date, rates: list[tuple[int, int]]) -> dict[dt.date, tuple[int, int]]:
    return {start + dt.timedelta(days=i): r for i, r in enumerate(rates)}


def test_reversal_rate_fired_days_stay_out_of_the_baseline():
    cfg = FraudConfig()  # reversal_min 5, factor 3, floor 200 bp
    start = dt.date(2026, 3, 2)
    normal, incident = (200, 1), (200, 12)  # 50 bp; 600 bp
    # a young channel attacked on its first days: each incident day would be the next one's whole baseline
    young = _days(start, [incident, incident, normal, incident, incident])
    fired = reversal_rate_days(cfg, young)
    assert [f.day for f in fired] == [start, start + dt.timedelta(days=1), start + dt.timedelta(days=3),
                                      start + dt.timedelta(days=4)]
    assert [f.baseline_bp for f in fired] == [0, 0, 50, 50]
    # an attack running for three weeks after four quiet weeks: from its 15th day the incidents would be the
    # median of the 28 days before, and the channel's "normal"
    long = _days(start, [normal] * 28 + [incident] * 21)
    fired = reversal_rate_days(cfg, long)
    assert len(fired) == 21 and {f.baseline_bp for f in fired} == {50}
    assert fired[-1].day == start + dt.timedelta(days=48)


def test_reversal_rate_near_misses():
    cfg = FraudConfig()
    start = dt.date(2026, 3, 2)
    base = [(200, 2)] * 10  # 100 bp
    assert not reversal_rate_days(cfg, _days(start, [*base, (200, 4)]))  # 200 bp... and under the minimum count
    assert not reversal_rate_days(cfg, _days(start, [*base, (200, 6)]))  # 300 bp: not above 3 x 100 bp
    assert [f.rate_bp for f in reversal_rate_days(cfg, _days(start, [*base, (200, 7)]))] == [350]
    assert not reversal_rate_days(cfg, _days(start, [(1000, 5)]))  # no history, 50 bp: under the floor
    assert median_rate_bp([(200, 1), (200, 3), (100, 0), (0, 0)]) == 50  # (0 + 50 + 150): middle; empty days skipped
