"""The staff settings (rows of vouchers/config/keys.py; ``vouchers.config`` builds them from the file and the environment)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass



@dataclass(frozen=True)
class StaffConfig:
    idle: dt.timedelta = dt.timedelta(minutes=15)
    absolute: dt.timedelta = dt.timedelta(hours=8)
    login_user_failures: int = 5
    login_ip_failures: int = 20
