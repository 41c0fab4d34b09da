"""Thresholds and actions of the fraud rules, read once by each edge (``fraud.*`` keys, docs/configuration.md).

Money thresholds are minor units; the edges parse yuan (``fraud.account_amount = "2000.00"``).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from vouchers.errors import InvalidMoney
from vouchers.money import parse_amount

ACTIONS = ("alert", "hold")


class FraudConfigError(ValueError):
    """A fraud setting that cannot be used (one line for the operator)."""


@dataclass(frozen=True)
class FraudConfig:
    enabled: bool = True
    account_cards: int = 5  # more cards than this onto one account in a rolling day
    account_amount: int = 300_000  # more money than this (minor units) onto one account in a rolling day
    terminal_per_hour: int = 60  # more redemptions than this by one terminal in a rolling hour
    open_hour: int = 7  # sites' opening hours, local: [open_hour, close_hour)
    close_hour: int = 22
    quick_minutes: int = 10  # a card redeemed this soon after its activation is "quick"
    quick_cards: int = 3  # this many quick cards of one distributor onto one account in a day: insider
    bulk_cards: int = 50  # an activation of at least this many cards ...
    bulk_redeemed: int = 20  # ... of which at least this many were redeemed the same local day
    void_distance: int = 50  # a card within this many serials of a void card of its batch
    review_threshold: int = 100_000  # payments at or above this are reviewed by hand (minor units)
    structuring_band: int = 10_000  # "just under": within this of the threshold
    structuring_count: int = 3  # this many just-under payments onto one account in a rolling day
    reversal_min: int = 5  # a channel-day needs at least this many reversals ...
    reversal_factor: int = 3  # ... and a rate above this times its baseline (median daily rate of the 28 days before)
    reversal_floor_bp: int = 200  # ... and above this rate (basis points) whatever the baseline
    actions: Mapping[str, str] = field(default_factory=dict)  # rule id -> alert | hold (default: the rule's)
    # a site's own opening hours: a terminal's client id or a payment channel -> (open, close), local;
    # a terminal without its own uses [open_hour, close_hour); a channel without its own is not checked
    site_hours: Mapping[str, tuple[int, int]] = field(default_factory=dict)

    def action(self, rule: str, default: str) -> str:
        return self.actions.get(rule, default)

    def hours_of(self, terminal: str | None, channel: str) -> tuple[int, int] | None:
        """The opening hours that apply to an event: its terminal's, else its channel's, else (terminals only)
        the installation's; None: nothing to check (an online channel without hours of its own)."""
        if terminal is not None:
            return self.site_hours.get(terminal) or self.site_hours.get(channel) or (self.open_hour, self.close_hour)
        return self.site_hours.get(channel)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> FraudConfig:
        def integer(name: str, default: int, low: int = 0, high: int = 10**9) -> int:
            raw = (env.get(name) or "").strip()
            if not raw:
                return default
            try:
                value = int(raw)
            except ValueError as e:
                raise FraudConfigError(f"{name} must be a whole number, got {raw!r}") from e
            if not low <= value <= high:
                raise FraudConfigError(f"{name} must be from {low} to {high}, got {value}")
            return value

        def yuan(name: str, default: int) -> int:
            raw = (env.get(name) or "").strip()
            if not raw:
                return default
            try:
                return parse_amount(raw)
            except InvalidMoney as e:
                raise FraudConfigError(f"{name}: {e}") from e

        actions: dict[str, str] = {}
        for item in (env.get("VOUCHER_FRAUD_ACTIONS") or "").replace(";", ",").split(","):
            if not item.strip():
                continue
            rule, sep, action = item.strip().partition("=")
            if not sep or action.strip() not in ACTIONS:
                raise FraudConfigError(f"VOUCHER_FRAUD_ACTIONS: {item.strip()!r} is not rule=alert|hold")
            actions[rule.strip()] = action.strip()
        site_hours: dict[str, tuple[int, int]] = {}
        for item in (env.get("VOUCHER_FRAUD_SITE_HOURS") or "").replace(";", ",").split(","):
            if not item.strip():
                continue
            site, sep, hours = item.strip().partition("=")
            open_, dash, close = hours.strip().partition("-")
            if not (sep and dash and site.strip() and open_.strip().isdigit() and close.strip().isdigit()
                    and 0 <= int(open_) <= 23 and 1 <= int(close) <= 24 and int(open_) != int(close)):
                raise FraudConfigError(f"VOUCHER_FRAUD_SITE_HOURS: {item.strip()!r} is not site=OPEN-CLOSE "
                                       "(hours 0-23 and 1-24, e.g. c_0123456789abcdef=8-20)")
            site_hours[site.strip()] = (int(open_), int(close))
        enabled = (env.get("VOUCHER_FRAUD_ENABLED") or "true").strip().lower() not in ("0", "false", "no", "off")
        return cls(
            enabled=enabled,
            account_cards=integer("VOUCHER_FRAUD_ACCOUNT_CARDS", cls.account_cards, 1),
            account_amount=yuan("VOUCHER_FRAUD_ACCOUNT_AMOUNT", cls.account_amount),
            terminal_per_hour=integer("VOUCHER_FRAUD_TERMINAL_PER_HOUR", cls.terminal_per_hour, 1),
            open_hour=integer("VOUCHER_FRAUD_OPEN_HOUR", cls.open_hour, 0, 23),
            close_hour=integer("VOUCHER_FRAUD_CLOSE_HOUR", cls.close_hour, 1, 24),
            quick_minutes=integer("VOUCHER_FRAUD_QUICK_MINUTES", cls.quick_minutes, 1, 7 * 1440),
            quick_cards=integer("VOUCHER_FRAUD_QUICK_CARDS", cls.quick_cards, 1),
            bulk_cards=integer("VOUCHER_FRAUD_BULK_CARDS", cls.bulk_cards, 1),
            bulk_redeemed=integer("VOUCHER_FRAUD_BULK_REDEEMED", cls.bulk_redeemed, 1),
            void_distance=integer("VOUCHER_FRAUD_VOID_DISTANCE", cls.void_distance, 0, 1_000_000),
            review_threshold=yuan("VOUCHER_FRAUD_REVIEW_THRESHOLD", cls.review_threshold),
            structuring_band=yuan("VOUCHER_FRAUD_STRUCTURING_BAND", cls.structuring_band),
            structuring_count=integer("VOUCHER_FRAUD_STRUCTURING_COUNT", cls.structuring_count, 1),
            reversal_min=integer("VOUCHER_FRAUD_REVERSAL_MIN", cls.reversal_min, 1),
            reversal_factor=integer("VOUCHER_FRAUD_REVERSAL_FACTOR", cls.reversal_factor, 1),
            reversal_floor_bp=integer("VOUCHER_FRAUD_REVERSAL_FLOOR_BP", cls.reversal_floor_bp, 0, 10_000),
            actions=actions,
            site_hours=site_hours,
        )
