"""An "as of" moment a job is asked to act at may not be later than now.

A job run as of a future date or instant acts on what has not happened yet:
``vouchers expire`` would expire cards still valid, ``cost-control run``
would order disconnections dated days ahead. Both refuse with this one check
(pure: the caller passes its clock reading).
"""
from __future__ import annotations

import datetime as dt
from typing import TypeVar

from vouchers.display import local_text
from vouchers.errors import VoucherError

When = TypeVar("When", dt.date, dt.datetime)


class FutureAsOf(VoucherError, ValueError):
    """An as-of date or instant after the present."""

    code = "as_of_in_future"


def _shown(value: dt.date, like: dt.date) -> str:
    if isinstance(value, dt.datetime) and isinstance(like, dt.datetime) and like.tzinfo is not None:
        return local_text(value, like.tzinfo)  # both in the zone the caller wrote the as-of in
    return value.isoformat()


def refuse_future(as_of: When, now: When, *, what: str, consequence: str,
                  error: type[FutureAsOf] = FutureAsOf) -> When:
    """``as_of`` unchanged if it is not after ``now`` (a date compares with the business today, an instant
    with the clock); else ``error`` saying what would go wrong (``consequence``)."""
    if as_of > now:
        today = "today is" if not isinstance(now, dt.datetime) else "it is now"
        raise error(f"{what} {_shown(as_of, as_of)} is in the future ({today} {_shown(now, as_of)}): {consequence}")
    return as_of
