"""Thresholds and actions of the fraud rules, read once by each edge (``fraud.*`` keys, docs/configuration.md).

Money thresholds are minor units; the configuration (``vouchers.config``) parses yuan (``fraud.account_amount = "2000.00"``).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


ACTIONS = ("alert", "hold")


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
