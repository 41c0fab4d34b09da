"""The staff settings (rows of vouchers/config/keys.py), read from the effective ``VOUCHER_*`` values."""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from vouchers.errors import ConfigError


def _int(env: Mapping[str, str], name: str, default: int, minimum: int, maximum: int) -> int:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as e:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from e
    if not minimum <= value <= maximum:
        raise ConfigError(f"{name} must be between {minimum} and {maximum}")
    return value


@dataclass(frozen=True)
class StaffConfig:
    idle: dt.timedelta = dt.timedelta(minutes=15)
    absolute: dt.timedelta = dt.timedelta(hours=8)
    login_user_failures: int = 5
    login_ip_failures: int = 20

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> StaffConfig:
        return cls(
            idle=dt.timedelta(minutes=_int(env, "VOUCHER_CONSOLE_IDLE_MINUTES", 15, 1, 24 * 60)),
            absolute=dt.timedelta(hours=_int(env, "VOUCHER_CONSOLE_ABSOLUTE_HOURS", 8, 1, 24)),
            login_user_failures=_int(env, "VOUCHER_CONSOLE_LOGIN_USER_FAILURES", 5, 1, 1000),
            login_ip_failures=_int(env, "VOUCHER_CONSOLE_LOGIN_IP_FAILURES", 20, 1, 100000),
        )
