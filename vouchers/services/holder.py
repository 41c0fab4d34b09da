"""Whose account is this? The masked holder and district shown before a card is spent.

A terminal (``GET /api/v1/accounts/<no>``) and the customer page (``/redeem``'s
first step) show it, so a mistyped but existing 户号 is caught before the money
goes to a stranger. Only masked values leave this module
(:mod:`vouchers.holder`). The edges throttle every lookup (an unmasked
account list must not be enumerable); that is their job, not this one's.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from vouchers.holder import mask_district, mask_name
from vouchers.services.errors import UnknownPayee
from vouchers.storage import hot_sql
from vouchers.storage.ledger_models import CustomerAccount

_CA = CustomerAccount.__table__
_HOLDER = select(_CA.c.account_no, _CA.c.name, _CA.c.district).where(_CA.c.account_no == bindparam("no"))


@dataclass(frozen=True)
class Holder:
    """An account's holder as anyone who knows the 户号 may see it."""

    account_no: str
    holder_masked: str
    district_masked: str | None  # None: no district on record

    def as_json(self) -> dict[str, object]:
        return {"holder_masked": self.holder_masked, "district_masked": self.district_masked}


def holder_of(session: Session, account_no: str) -> Holder:
    """The masked holder of ``account_no``; :class:`UnknownPayee` if there is no such account."""
    row = hot_sql.one_or_none(session, _HOLDER, {"no": account_no})
    if row is None:
        raise UnknownPayee(f"no electricity account {account_no}")
    return Holder(row.account_no, mask_name(row.name), mask_district(row.district))
