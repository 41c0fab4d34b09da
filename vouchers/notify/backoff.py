"""Exponential backoff between delivery attempts (deterministic, capped)."""
from __future__ import annotations

import datetime as dt

BASE = dt.timedelta(minutes=1)
CAP = dt.timedelta(hours=6)


def retry_delay(failures: int, *, base: dt.timedelta = BASE, cap: dt.timedelta = CAP) -> dt.timedelta:
    """Wait after the ``failures``-th failed attempt: base, 2*base, 4*base, ... at most ``cap``."""
    if failures < 1:
        raise ValueError("failures must be at least 1")
    return min(base * (2 ** min(failures - 1, 32)), cap)
