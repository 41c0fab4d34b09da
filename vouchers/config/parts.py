"""The typed settings of each part, built from the effective ``VOUCHER_*`` values by :class:`Settings`.

Each part's settings type lives with the part (the throttle's limits beside the throttle, the fraud
rules' thresholds beside the rules, ...) and knows nothing of names, files or the environment; here
each field is mapped to its row of the key table, and a value that is set replaces the field's default.
Only the edges load this (through :func:`vouchers.config.load_settings`) and pass the values in.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vouchers.config.values import given, typed
from vouchers.errors import ConfigError, InvalidSerial
from vouchers.metering.config import MeteringConfig
from vouchers.metering.errors import ConfigError as MeteringConfigError
from vouchers.serials import Serial
from vouchers.services.fraud_config import ACTIONS, FraudConfig
from vouchers.services.throttle import ThrottleLimits
from vouchers.staff.config import StaffConfig

THROTTLE = {
    "window_seconds": "VOUCHER_THROTTLE_WINDOW_SECONDS",
    "client_failures": "VOUCHER_THROTTLE_CLIENT_FAILURES",
    "account_failures": "VOUCHER_THROTTLE_ACCOUNT_FAILURES",
    "web_ip_failures": "VOUCHER_THROTTLE_WEB_IP_FAILURES",
    "web_account_failures": "VOUCHER_THROTTLE_WEB_ACCOUNT_FAILURES",
    "web_ip_challenge_after": "VOUCHER_THROTTLE_WEB_IP_CHALLENGE_AFTER",
    "web_pow_bits": "VOUCHER_THROTTLE_WEB_POW_BITS",
    "client_lookups": "VOUCHER_THROTTLE_CLIENT_LOOKUPS",
    "web_ip_lookups": "VOUCHER_THROTTLE_WEB_IP_LOOKUPS",
    "sms_sender_failures": "VOUCHER_THROTTLE_SMS_SENDER_FAILURES",
}
FRAUD = {
    "enabled": "VOUCHER_FRAUD_ENABLED",
    "account_cards": "VOUCHER_FRAUD_ACCOUNT_CARDS",
    "account_amount": "VOUCHER_FRAUD_ACCOUNT_AMOUNT",
    "terminal_per_hour": "VOUCHER_FRAUD_TERMINAL_PER_HOUR",
    "open_hour": "VOUCHER_FRAUD_OPEN_HOUR",
    "close_hour": "VOUCHER_FRAUD_CLOSE_HOUR",
    "quick_minutes": "VOUCHER_FRAUD_QUICK_MINUTES",
    "quick_cards": "VOUCHER_FRAUD_QUICK_CARDS",
    "bulk_cards": "VOUCHER_FRAUD_BULK_CARDS",
    "bulk_redeemed": "VOUCHER_FRAUD_BULK_REDEEMED",
    "void_distance": "VOUCHER_FRAUD_VOID_DISTANCE",
    "review_threshold": "VOUCHER_FRAUD_REVIEW_THRESHOLD",
    "structuring_band": "VOUCHER_FRAUD_STRUCTURING_BAND",
    "structuring_count": "VOUCHER_FRAUD_STRUCTURING_COUNT",
    "reversal_min": "VOUCHER_FRAUD_REVERSAL_MIN",
    "reversal_factor": "VOUCHER_FRAUD_REVERSAL_FACTOR",
    "reversal_floor_bp": "VOUCHER_FRAUD_REVERSAL_FLOOR_BP",
}
FRAUD_ACTIONS = "VOUCHER_FRAUD_ACTIONS"
FRAUD_SITE_HOURS = "VOUCHER_FRAUD_SITE_HOURS"
METERING = {
    "due_days": "VOUCHER_BILL_DUE_DAYS",
    "warning_threshold_fen": "VOUCHER_LOW_BALANCE_WARNING",
    "notice_days": "VOUCHER_DISCONNECT_NOTICE_DAYS",
    "disconnect_hour": "VOUCHER_DISCONNECT_HOUR",
    "red_days_past_due": "VOUCHER_RED_DAYS_PAST_DUE",
    "red_large_customer_fen": "VOUCHER_RED_LARGE_CUSTOMER",
    "yellow_late_payments": "VOUCHER_YELLOW_LATE_PAYMENTS",
    "blue_days_to_zero": "VOUCHER_BLUE_DAYS_TO_ZERO",
    "batch_size": "VOUCHER_BILLING_BATCH",
    "billing_workers": "VOUCHER_BILLING_WORKERS",
}
CANARIES = "VOUCHER_CANARY_SERIALS"


@dataclass(frozen=True)
class WebSettings:
    """The web process's knobs (``web.*``, ``idempotency.stale_seconds``, ``log_format``)."""

    max_body_bytes: int = 16 * 1024
    canary_serials: frozenset[str] = frozenset()  # serials without separators
    trusted_proxies: int = 0
    metrics_dir: Path | None = None
    cookie_secure: bool = True
    request_read_seconds: float = 10.0
    idempotency_stale_seconds: int = 120
    log_format: str = "text"  # text | json
    api_key_cache_seconds: int = 0  # a valid key answered from the worker's memory this long (0: never)

    @classmethod
    def of(cls, values: Mapping[str, str]) -> WebSettings:
        return cls(canary_serials=_canaries(values), **given(values, {
            "max_body_bytes": "VOUCHER_MAX_BODY_BYTES",
            "trusted_proxies": "VOUCHER_TRUSTED_PROXIES",
            "metrics_dir": "VOUCHER_METRICS_DIR",
            "cookie_secure": "VOUCHER_COOKIE_SECURE",
            "request_read_seconds": "VOUCHER_REQUEST_READ_SECONDS",
            "idempotency_stale_seconds": "VOUCHER_IDEMPOTENCY_STALE_SECONDS",
            "log_format": "VOUCHER_LOG_FORMAT",
            "api_key_cache_seconds": "VOUCHER_API_KEY_CACHE_SECONDS",
        }))


@dataclass(frozen=True)
class SmsSettings:
    """The SMS gateway (``sms.*``): a sink file wins over the URL; the token comes from the environment."""

    url: str | None = None
    token: str | None = field(default=None, repr=False)  # a secret: never in a repr or a log line
    sink: Path | None = None
    timeout_seconds: float = 10.0
    lang: str = "zh"

    @classmethod
    def of(cls, values: Mapping[str, str]) -> SmsSettings:
        return cls(**given(values, {"url": "VOUCHER_SMS_URL", "token": "VOUCHER_SMS_TOKEN", "sink": "VOUCHER_SMS_SINK",
                                    "timeout_seconds": "VOUCHER_SMS_TIMEOUT", "lang": "VOUCHER_SMS_LANG"}))


def _canaries(values: Mapping[str, str]) -> frozenset[str]:
    found = set()
    for item in typed(values, CANARIES) or ():
        item = item.replace(" ", "").replace("-", "")
        try:
            Serial.parse(item)
        except InvalidSerial as e:
            raise ConfigError(f"{CANARIES}: {item!r} is not a valid serial") from e
        found.add(item)
    return frozenset(found)


def throttle_limits(values: Mapping[str, str]) -> ThrottleLimits:
    return ThrottleLimits(**given(values, THROTTLE))


def fraud_config(values: Mapping[str, str]) -> FraudConfig:
    actions: dict[str, str] = {}
    for item in typed(values, FRAUD_ACTIONS) or ():
        rule, sep, action = item.partition("=")
        if not sep or action.strip() not in ACTIONS:
            raise ConfigError(f"{FRAUD_ACTIONS}: {item!r} is not rule=alert|hold")
        actions[rule.strip()] = action.strip()
    return FraudConfig(actions=actions, site_hours=_site_hours(values), **given(values, FRAUD))


def _site_hours(values: Mapping[str, str]) -> dict[str, tuple[int, int]]:
    """``site=OPEN-CLOSE`` items: a terminal's client id or a payment channel and its local opening hours."""
    found: dict[str, tuple[int, int]] = {}
    for item in typed(values, FRAUD_SITE_HOURS) or ():
        site, sep, hours = item.partition("=")
        open_, dash, close = hours.strip().partition("-")
        if not (sep and dash and site.strip() and open_.strip().isdigit() and close.strip().isdigit()
                and 0 <= int(open_) <= 23 and 1 <= int(close) <= 24 and int(open_) != int(close)):
            raise ConfigError(f"{FRAUD_SITE_HOURS}: {item!r} is not site=OPEN-CLOSE "
                              "(hours 0-23 and 1-24, e.g. c_0123456789abcdef=8-20)")
        found[site.strip()] = (int(open_), int(close))
    return found


def metering_config(values: Mapping[str, str], timezone: str) -> MeteringConfig:
    try:
        return MeteringConfig(timezone=timezone, **given(values, METERING))
    except MeteringConfigError as e:  # the key table's ranges are the same; kept as a second line of defence
        raise ConfigError(str(e)) from e


def staff_config(values: Mapping[str, str]) -> StaffConfig:
    found = given(values, {"idle": "VOUCHER_CONSOLE_IDLE_MINUTES", "absolute": "VOUCHER_CONSOLE_ABSOLUTE_HOURS",
                           "login_user_failures": "VOUCHER_CONSOLE_LOGIN_USER_FAILURES",
                           "login_ip_failures": "VOUCHER_CONSOLE_LOGIN_IP_FAILURES"})
    if "idle" in found:
        found["idle"] = dt.timedelta(minutes=found["idle"])
    if "absolute" in found:
        found["absolute"] = dt.timedelta(hours=found["absolute"])
    return StaffConfig(**found)
