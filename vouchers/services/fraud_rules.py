"""The fraud rules: stable ids, zh/en descriptions, default actions, and the decisions themselves.

Pure: :func:`decide` turns one money-in event and the counts of its rolling
windows (:class:`Facts`) into the rules that fire. The inline check reads the
counts with indexed queries (:mod:`vouchers.services.fraud_engine`); the scan
computes them in sliding windows over a time range; both decide here, so the
two cannot disagree on what a rule means.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from vouchers.services.fraud_config import FraudConfig

ALERT, HOLD = "alert", "hold"
ACCOUNT, DISTRIBUTOR, TERMINAL, CHANNEL, BATCH = "account", "distributor", "terminal", "channel", "batch"
OPERATOR = "operator"  # who reversed (the reversal's actor)
STAFF = "staff"  # a staff member (username)
SUBJECTS = (ACCOUNT, DISTRIBUTOR, TERMINAL, CHANNEL, BATCH, OPERATOR, STAFF)


@dataclass(frozen=True)
class Rule:
    id: str
    subject: str  # what its alerts are grouped by (cases)
    # default action: every rule alerts (money moves, as before the rules existed); an installation holds
    # with ``fraud.actions`` (RECOMMENDED_HOLDS in docs/fraud.md), so no terminal meets a 202 unannounced
    action: str
    inline: bool  # checked inside the money-in flow (else by the scan only)
    en: str
    zh: str


RULES: dict[str, Rule] = {r.id: r for r in (
    Rule("velocity.account_cards", ACCOUNT, ALERT, True,
         "one account credited by more cards than allowed in a rolling day",
         "同一户号一天内充值卡数超过上限"),
    Rule("velocity.account_amount", ACCOUNT, ALERT, True,
         "one account credited with more money than allowed in a rolling day",
         "同一户号一天内入账金额超过上限"),
    Rule("velocity.terminal_rate", TERMINAL, ALERT, True,
         "one terminal redeeming more cards than allowed in a rolling hour",
         "同一终端一小时内兑换次数超过上限"),
    Rule("velocity.terminal_hours", TERMINAL, ALERT, True,
         "a terminal redeeming (or a counter channel taking a payment) outside its site's opening hours",
         "终端（或有营业时间的柜台渠道）在网点营业时间以外兑换或收款"),
    Rule("insider.quick_redeem", DISTRIBUTOR, ALERT, True,
         "cards redeemed minutes after activation, concentrated on one account",
         "激活后数分钟内即被兑换的卡集中充入同一户号"),
    Rule("insider.bulk_same_day", DISTRIBUTOR, ALERT, False,
         "stock activated in bulk and largely redeemed the same day",
         "批量激活的卡当天大量被兑换"),
    Rule("insider.staff_match", STAFF, ALERT, True,
         "money credited to an account whose phone or address is a staff member's",
         "充值或缴费入账的户号电话或地址与员工相同"),
    Rule("stolen.near_void", BATCH, ALERT, True,
         "a card redeemed from a batch within a few serials of a voided card",
         "兑换的卡与同批次已作废卡的序列号相近"),
    Rule("channel.structuring", ACCOUNT, ALERT, True,
         "one account receiving many payments just under the review threshold",
         "同一户号多笔略低于审核金额的缴费（拆分交易）"),
    Rule("channel.reversal_rate", CHANNEL, ALERT, False,
         "a channel's reversal rate on one day far above its baseline",
         "某渠道当日冲正率远高于基线"),
    Rule("channel.reversal_operator", OPERATOR, ALERT, False,
         "one operator's reversals on one day far above that operator's baseline",
         "某操作员当日冲正笔数远高于其基线"),
    Rule("channel.refund_after_release", ACCOUNT, ALERT, False,
         "a payment held for review, released to the account, then refunded by its channel",
         "被冻结的缴费经审核放行入账后又被渠道退款"),
    Rule("channel.refund_after_use", ACCOUNT, ALERT, False,
         "a payment refunded after its credit was used (a keypad token vended)",
         "缴费在电费已使用（已售电表令牌）后被退款"),
    # the refusals that were the only fraud alerts before: the same alert model
    Rule("void_voucher", TERMINAL, ALERT, False, "an attempt on a void card", "尝试兑换已作废的卡"),
    Rule("inactive_voucher", TERMINAL, ALERT, False, "an attempt on a card not yet activated",
         "尝试兑换未激活的卡"),
    Rule("canary_serial", TERMINAL, ALERT, False, "an attempt on a canary card", "尝试兑换监控（金丝雀）卡"),
    Rule("forged_token", TERMINAL, ALERT, False, "a forged or mismatched scanned token", "扫描的令牌伪造或不符"),
    Rule("lockout", TERMINAL, ALERT, False, "too many failed attempts: locked out", "失败次数过多，已锁定"),
)}


RECOMMENDED_HOLDS = ("velocity.account_cards", "insider.quick_redeem", "stolen.near_void")


def describe(rule_id: str, lang: str = "en") -> str:
    rule = RULES.get(rule_id)
    if rule is None:
        return rule_id
    return rule.zh if lang == "zh" else rule.en


@dataclass(frozen=True)
class Event:
    """One money-in event as the rules see it (a redemption or a channel payment)."""

    kind: str  # redemption | payment
    account_no: str
    amount: int
    channel: str  # the payments channel ("voucher" for cards)
    at: dt.datetime
    local_hour: int
    terminal: str | None = None  # the redeeming terminal's client id
    distributor_id: str | None = None
    serial: str | None = None
    batch_pk: int | None = None
    activated_at: dt.datetime | None = None


@dataclass(frozen=True)
class Facts:
    """Counts of the rolling windows ending at the event, the event included."""

    account_cards_day: int = 0
    account_amount_day: int = 0
    terminal_hour: int = 0
    quick_cards_day: int = 0  # quick cards of this card's distributor onto this account (0: this card is not quick)
    near_void: bool = False
    just_under_day: int = 0  # just-under payments onto this account (0: this payment is not just under)
    staff_match: str | None = None  # the (enabled) staff member whose phone or address the account shares


@dataclass(frozen=True)
class Hit:
    rule: str
    action: str
    subject_type: str
    subject_id: str
    details: dict[str, Any] = field(default_factory=dict)


def is_quick(cfg: FraudConfig, event: Event) -> bool:
    return (event.activated_at is not None and event.kind == "redemption"
            and dt.timedelta(0) <= event.at - event.activated_at <= dt.timedelta(minutes=cfg.quick_minutes))


def is_just_under(cfg: FraudConfig, event: Event) -> bool:
    return (event.kind == "payment"
            and cfg.review_threshold - cfg.structuring_band <= event.amount < cfg.review_threshold)


def outside_hours(cfg: FraudConfig, local_hour: int, hours: tuple[int, int] | None = None) -> bool:
    """Whether ``local_hour`` is outside ``hours`` (default: the installation's ``[open_hour, close_hour)``)."""
    open_hour, close_hour = hours or (cfg.open_hour, cfg.close_hour)
    if open_hour < close_hour:
        return not open_hour <= local_hour < close_hour
    return close_hour <= local_hour < open_hour  # a site open over midnight


def decide(cfg: FraudConfig, event: Event, facts: Facts) -> list[Hit]:
    """The inline rules that fire for ``event`` (each at most once)."""
    hits: list[Hit] = []

    def hit(rule: str, subject_id: str | None, subject_type: str | None = None, **details: Any) -> None:
        r = RULES[rule]
        hits.append(Hit(rule, cfg.action(rule, r.action), subject_type or r.subject, subject_id or event.account_no,
                        details))

    if event.kind == "redemption" and facts.account_cards_day > cfg.account_cards:
        hit("velocity.account_cards", event.account_no, cards=facts.account_cards_day, limit=cfg.account_cards)
    if facts.account_amount_day > cfg.account_amount:
        hit("velocity.account_amount", event.account_no, amount=facts.account_amount_day, limit=cfg.account_amount)
    if event.terminal is not None:
        if facts.terminal_hour > cfg.terminal_per_hour:
            hit("velocity.terminal_rate", event.terminal, redemptions=facts.terminal_hour,
                limit=cfg.terminal_per_hour)
    hours = cfg.hours_of(event.terminal, event.channel)
    if hours is not None and event.kind in ("redemption", "payment") and outside_hours(cfg, event.local_hour, hours):
        # a terminal's case, or (a counter channel with hours of its own) the channel's
        hit("velocity.terminal_hours", event.terminal or event.channel, None if event.terminal else CHANNEL,
            local_hour=event.local_hour, hours=f"{hours[0]}-{hours[1]}")
    if is_quick(cfg, event) and facts.quick_cards_day >= cfg.quick_cards and event.distributor_id:
        hit("insider.quick_redeem", event.distributor_id, account_no=event.account_no,
            quick_cards=facts.quick_cards_day, limit=cfg.quick_cards)
    if facts.staff_match and event.kind in ("redemption", "payment"):
        hit("insider.staff_match", facts.staff_match, account_no=event.account_no)
    if facts.near_void and event.batch_pk is not None:
        hit("stolen.near_void", str(event.batch_pk), serial=event.serial, distance=cfg.void_distance)
    if is_just_under(cfg, event) and facts.just_under_day >= cfg.structuring_count:
        hit("channel.structuring", event.account_no, payments=facts.just_under_day,
            threshold=cfg.review_threshold)
    return hits


REVERSAL_BASELINE_DAYS = 28  # a channel-day's baseline: the median daily reversal rate of the 28 days before


@dataclass(frozen=True)
class ReversalDay:
    day: dt.date
    payments: int
    reversed: int
    rate_bp: int
    baseline_bp: int


def reversal_rate_days(cfg: FraudConfig, days: dict[dt.date, tuple[int, int]]) -> list[ReversalDay]:
    """The days of one channel (``{day: (payments, reversed)}``) on which ``channel.reversal_rate`` fires.

    A day fires with at least ``reversal_min`` reversals and a rate above ``reversal_floor_bp`` and above
    ``reversal_factor`` times its baseline: the median daily rate of the 28 days before, *leaving out the days
    that fired themselves*. The median alone keeps a few incidents from inflating the baseline, but not a
    channel whose history is mostly incidents - its first days (one incident day is the whole baseline of the
    next), or an attack that runs day after day for two weeks and more; a fired day is no one's "normal". A day
    without any (unfired) day before it is judged against a baseline of 0, i.e. by the count and the floor.
    The price: a channel whose rate rises for good keeps alerting (on its one open case) until someone looks."""
    fired: list[ReversalDay] = []
    fired_days: set[dt.date] = set()
    for d, (total, reversed_) in sorted(days.items()):
        if reversed_ < cfg.reversal_min or not total:
            continue
        rate_bp = reversed_ * 10_000 // total
        before = [days[b] for back in range(1, REVERSAL_BASELINE_DAYS + 1)
                  if (b := d - dt.timedelta(days=back)) in days and b not in fired_days]
        base_bp = median_rate_bp(before)
        if rate_bp > cfg.reversal_floor_bp and rate_bp > cfg.reversal_factor * base_bp:
            fired.append(ReversalDay(d, total, reversed_, rate_bp, base_bp))
            fired_days.add(d)
    return fired


def median_rate_bp(days: list[tuple[int, int]]) -> int:
    """The median daily reversal rate (basis points) of ``(payments, reversed)`` days."""
    rates = sorted(r * 10_000 // t for t, r in days if t)
    if not rates:
        return 0
    middle = len(rates) // 2
    return rates[middle] if len(rates) % 2 else (rates[middle - 1] + rates[middle]) // 2
