"""STS meter records: PAN, key parameters, the account they credit; taking a meter out of service.

A meter is *active* until :func:`deactivate_meter` (meter replaced by a
non-keypad meter, or removed): from then on no token is vended for it, the
account is billed from readings again (billing skips only accounts with an
active STS meter), and its history (vend log, key changes, TID record) stays.
:func:`reactivate_meter` puts it back in service under the same rules as
:func:`add_meter` (prepaid account, no other active STS meter).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from vouchers.metering.accounts import find_assignment
from vouchers.storage import audit
from vouchers.storage.sts_models import StsMeter
from vouchers.sts.dkga04 import MeterKeyParams
from vouchers.sts.errors import StsError
from vouchers.sts.pan import MeterPan
from vouchers.sts.tid import BaseDate
from vouchers.vending.errors import (
    AccountNotMetered,
    InvalidMeter,
    MeterExists,
    MeterInactive,
    UnknownMeter,
    VendingError,
)


@dataclass(frozen=True)
class MeterView:
    pan: str
    account_no: str
    sgc: int
    ti: int
    krn: int
    key_type: int
    ken: int
    base_date: int
    ea: int
    active: bool
    last_tid: int | None

    def params(self) -> MeterKeyParams:
        return MeterKeyParams(pan=MeterPan(self.pan), sgc=self.sgc, ti=self.ti, krn=self.krn,
                              key_type=self.key_type, base_date=BaseDate.from_year(self.base_date), ken=self.ken)

    def as_dict(self) -> dict[str, object]:
        return {"pan": self.pan, "account_no": self.account_no, "sgc": f"{self.sgc:06d}", "ti": self.ti,
                "krn": self.krn, "key_type": self.key_type, "ken": self.ken, "base_date": self.base_date,
                "ea": self.ea, "active": self.active, "last_tid": self.last_tid}


def _view(row: StsMeter) -> MeterView:
    return MeterView(row.pan, row.account_no, row.sgc, row.ti, row.krn, row.key_type, row.ken, row.base_date,
                     row.ea, bool(row.active), row.last_tid)


def parse_pan(text: str) -> str:
    """The 18 PAN digits (spaces/dashes allowed), Luhn checked, or :class:`InvalidMeter` (``sts_invalid_pan``)."""
    try:
        return MeterPan.parse(str(text)).digits
    except StsError as e:
        raise VendingError.from_sts(e) from e


def add_meter(session: Session, *, pan: str, account_no: str, sgc: int, ti: int, krn: int, key_type: int = 2,
              ken: int = 255, base_date: int = 2014, ea: int = 11, now: dt.datetime,
              actor: str = "system") -> MeterView:
    """Register an STS meter for a prepaid metered account (one active STS meter per account)."""
    digits = parse_pan(pan)
    if ea != 11:
        raise InvalidMeter("only EA11 (MISTY1) meters are supported (EA07 needs licensed tables)")
    try:
        params = MeterKeyParams(pan=MeterPan(digits), sgc=sgc, ti=ti, krn=krn, key_type=key_type,
                                base_date=BaseDate.from_year(base_date), ken=ken)
    except StsError as e:
        raise VendingError.from_sts(e) from e
    assignment = find_assignment(session, account_no)
    if assignment is None:
        raise AccountNotMetered(f"account {account_no} has no tariff assignment (`voucherctl billing assign`)")
    if assignment.payment_mode != "prepaid":
        raise InvalidMeter(f"account {account_no} is postpaid; STS keypad meters need a prepaid account")
    if session.get(StsMeter, digits) is not None:
        raise MeterExists(f"meter {digits} is already registered")
    if find_meter(session, account_no) is not None:
        raise MeterExists(f"account {account_no} already has an active STS meter")
    row = StsMeter(pan=digits, account_no=account_no, sgc=params.sgc, ti=params.ti, krn=params.krn,
                   key_type=params.key_type, ken=params.ken, base_date=params.base_date.year, ea=ea, active=True,
                   last_tid=None, created_at=now, updated_at=now)
    session.add(row)
    session.flush()
    audit.record(session, now=now, actor=actor, action="sts.meter_add", subject_type="sts_meter",
                 subject_id=digits, from_state=None, to_state="active",
                 details={"account_no": account_no, "sgc": params.sgc, "ti": params.ti, "krn": params.krn,
                          "key_type": params.key_type, "ken": params.ken, "base_date": params.base_date.year})
    return _view(row)


MAX_REASON = 500


def _reason(reason: str) -> str:
    text = reason.strip() if isinstance(reason, str) else ""
    if not text:
        raise VendingError("a reason is required (e.g. replaced by a non-keypad meter)", code="sts_invalid_input")
    if len(text) > MAX_REASON:
        raise VendingError(f"the reason is longer than {MAX_REASON} characters", code="sts_invalid_input")
    return text


def _set_active(session: Session, digits: str, active: bool, now: dt.datetime) -> bool:
    """Flip ``active`` only if it is still the other way (one conditional UPDATE); True if it did."""
    changed = session.execute(update(StsMeter).where(StsMeter.pan == digits, StsMeter.active.is_(not active))
                              .values(active=active, updated_at=now, deactivated_at=None if active else now),
                              execution_options={"synchronize_session": False}).rowcount
    stale = session.identity_map.get(session.identity_key(StsMeter, digits))
    if stale is not None:  # updated behind the ORM's back
        session.expire(stale)
    return changed == 1


def deactivate_meter(session: Session, pan: str, *, reason: str, now: dt.datetime,
                     actor: str = "system") -> MeterView:
    """Take a meter out of service: no more tokens for it; the account is billed from readings again.

    Unknown meter: ``sts_unknown_meter``; already inactive: ``sts_meter_inactive``.
    The vend log, key change history and TID record are kept.
    """
    meter = get_meter(session, pan)
    why = _reason(reason)
    if not _set_active(session, meter.pan, False, now):
        raise MeterInactive(f"meter {meter.pan} is already inactive")
    audit.record(session, now=now, actor=actor, action="sts.meter_deactivate", subject_type="sts_meter",
                 subject_id=meter.pan, from_state="active", to_state="inactive", reason=why,
                 details={"account_no": meter.account_no, "last_tid": meter.last_tid})
    return get_meter(session, meter.pan)


def reactivate_meter(session: Session, pan: str, *, reason: str, now: dt.datetime,
                     actor: str = "system") -> MeterView:
    """Put a deactivated meter back in service (the checks of :func:`add_meter`; the TID record continues)."""
    meter = get_meter(session, pan)
    why = _reason(reason)
    if meter.active:
        raise MeterExists(f"meter {meter.pan} is already active")
    assignment = find_assignment(session, meter.account_no)
    if assignment is None or assignment.payment_mode != "prepaid":
        raise InvalidMeter(f"account {meter.account_no} is no longer a prepaid metered account")
    other = find_meter(session, meter.account_no)
    if other is not None:
        raise MeterExists(f"account {meter.account_no} already has an active STS meter ({other.pan})")
    if not _set_active(session, meter.pan, True, now):
        raise MeterExists(f"meter {meter.pan} is already active")
    audit.record(session, now=now, actor=actor, action="sts.meter_reactivate", subject_type="sts_meter",
                 subject_id=meter.pan, from_state="inactive", to_state="active", reason=why,
                 details={"account_no": meter.account_no, "last_tid": meter.last_tid})
    return get_meter(session, meter.pan)


def inactive_meter_of(session: Session, account_no: str, pan: str | None = None) -> str | None:
    """The PAN of a deactivated meter of the account (``pan`` if given and it is one), for clear refusals."""
    query = select(StsMeter.pan).where(StsMeter.account_no == account_no, StsMeter.active.is_(False))
    if pan is not None:
        query = query.where(StsMeter.pan == pan)
    return session.execute(query.order_by(StsMeter.updated_at.desc()).limit(1)).scalar_one_or_none()


def find_meter(session: Session, account_no: str) -> MeterView | None:
    """The account's active STS meter, or None (the account has no keypad meter)."""
    row = session.execute(select(StsMeter).where(StsMeter.account_no == account_no, StsMeter.active.is_(True))
                          ).scalars().first()
    return _view(row) if row is not None else None


def get_meter(session: Session, pan: str) -> MeterView:
    digits = parse_pan(pan)
    row = session.get(StsMeter, digits)
    if row is None:
        raise UnknownMeter(f"no STS meter {digits}")
    return _view(row)


def list_meters(session: Session, account_no: str | None = None) -> list[MeterView]:
    query = select(StsMeter).order_by(StsMeter.account_no, StsMeter.pan)
    if account_no is not None:
        query = query.where(StsMeter.account_no == account_no)
    return [_view(r) for r in session.execute(query).scalars()]
