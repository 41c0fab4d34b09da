"""The staff settings (rows of vouchers/config/keys.py), read from the effective ``VOUCHER_*`` values."""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from vouchers.setting_values import env_int


@dataclass(frozen=True)
class StaffConfig:
    idle: dt.timedelta = dt.timedelta(minutes=15)
    absolute: dt.timedelta = dt.timedelta(hours=8)
    login_user_failures: int = 5
    login_ip_failures: int = 20

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> StaffConfig:
        return cls(
            idle=dt.timedelta(minutes=env_int(env, "VOUCHER_CONSOLE_IDLE_MINUTES", 15, 1, 24 * 60)),
            absolute=dt.timedelta(hours=env_int(env, "VOUCHER_CONSOLE_ABSOLUTE_HOURS", 8, 1, 24)),
            login_user_failures=env_int(env, "VOUCHER_CONSOLE_LOGIN_USER_FAILURES", 5, 1, 1000),
            login_ip_failures=env_int(env, "VOUCHER_CONSOLE_LOGIN_IP_FAILURES", 20, 1, 100000),
        )
