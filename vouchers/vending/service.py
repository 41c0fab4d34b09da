"""Vending: money -> kWh (the account's tariff) -> an STS token, inside the caller's transaction.

Every function takes a session, plain values, ``now`` and a
:class:`vouchers.sts.VendingBackend`. A refusal raises :class:`vouchers.vending.errors.VendingError`
before anything is committed, so the caller's transaction (the redemption or
payment that brought the money) rolls back with it: no token, no money moved.

Books: a credit token vended for money is energy sold. In the same
transaction the vend books ``Dr customer_prepaid:<account> / Cr
revenue:electricity`` (:mod:`vouchers.books.energy_sales`, idempotent by the vend id);
the customer's balance rows are locked and the prepaid balance checked
(``sts_insufficient_balance``) *before* the meter's TID record is touched, so
the lock order is customer rows -> meter row, as for a payment followed by a
vend.

TIDs: the meter row's ``last_tid`` is advanced by one atomic ``UPDATE`` to
``max(now_minutes, last_tid + 1)`` and the new value is read back
(``RETURNING``), so two vends for one meter - even in one minute, even at the
same time in two processes - get distinct, increasing TIDs.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from decimal import Decimal

from sqlalchemy import case, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vouchers.books import energy_sales
from vouchers.books.errors import LedgerError
from vouchers.metering import positions as pos
from vouchers.metering.config import MeteringConfig
from vouchers.metering.prepaid import kwh_for_money
from vouchers.storage import audit
from vouchers.storage.sts_models import StsMeter, StsVend
from vouchers.sts import backend as b
from vouchers.sts.amount import kwh_to_units, representable_units, units_to_kwh
from vouchers.sts.errors import StsError
from vouchers.sts.tid import BaseDate, check_ken, check_tid, minutes_since, next_tid, tid_to_datetime
from vouchers.sts.transposition import group_digits
from vouchers.tariffs import Catalog
from vouchers.tariffs.errors import TariffError
from vouchers.vending.errors import (
    AccountNotMetered,
    MeterInactive,
    NothingToReprint,
    UnknownMeter,
    VendingError,
)
from vouchers.vending.meters import MeterView, find_meter, get_meter, inactive_meter_of, parse_pan
from vouchers.money import format_amount

ENGINEERING_KINDS = ("clear_credit", "clear_tamper", "max_power")


@dataclass(frozen=True)
class VendResult:
    vend_id: int
    pan: str
    account_no: str
    kind: str
    token: str  # 20 digits
    tid: int
    units: int | None  # 0.1 kWh credited (credit), watts (max_power)
    tariff_kwh: str | None  # what the tariff gave for the money (0.01 kWh, rounded down)
    amount_minor: int | None
    replayed: bool = False
    reprints: int = 0
    vended_at: dt.datetime | None = None
    transaction_id: int | None = None  # the energy sale in the books (credit tokens)

    @property
    def grouped(self) -> str:
        return group_digits(self.token)

    @property
    def kwh(self) -> str | None:
        """kWh the meter credits (0.1 kWh, rounded up), for credit tokens."""
        return str(units_to_kwh(self.units)) if self.kind == "credit" and self.units is not None else None

    def as_response(self) -> dict[str, object]:
        """The ``sts`` object of API responses, SMS and receipts."""
        doc: dict[str, object] = {"token": self.grouped, "tid": self.tid, "meter": self.pan, "kind": self.kind}
        if self.kind == "credit":
            doc.update(kwh=self.kwh, tariff_kwh=self.tariff_kwh)
        elif self.kind == "max_power":
            doc["watts"] = self.units
        return doc

    def as_dict(self) -> dict[str, object]:
        return {"vend_id": self.vend_id, "pan": self.pan, "account_no": self.account_no, "kind": self.kind,
                "token": self.token, "token_grouped": self.grouped, "tid": self.tid, "kwh": self.kwh,
                "units": self.units, "tariff_kwh": self.tariff_kwh,
                "amount": format_amount(self.amount_minor) if self.amount_minor is not None else None,
                "replayed": self.replayed, "reprints": self.reprints,
                "vended_at": self.vended_at.astimezone(dt.timezone.utc).isoformat() if self.vended_at else None,
                "ledger_transaction_id": self.transaction_id}


def _result(row: StsVend, *, replayed: bool = False) -> VendResult:
    vended_at = row.vended_at
    if vended_at is not None and vended_at.tzinfo is None:  # SQLite keeps no offset; stored as UTC
        vended_at = vended_at.replace(tzinfo=dt.timezone.utc)
    return VendResult(row.id, row.pan, row.account_no, row.kind, row.token, row.tid, row.units, row.tariff_kwh,
                      row.amount_minor, replayed, row.reprints, vended_at, row.ledger_transaction_id)


def _sts(call):  # type: ignore[no-untyped-def]
    try:
        return call()
    except StsError as e:
        raise VendingError.from_sts(e) from e


def _take_tid(session: Session, meter: MeterView, now: dt.datetime) -> int:
    """Advance the meter's TID record atomically; returns the TID to put in the token."""
    base = BaseDate.from_year(meter.base_date)
    _sts(lambda: next_tid(now, meter.last_tid, base))  # clear errors: before the base date, rolled over
    minutes = _sts(lambda: minutes_since(now, base))
    stmt = (update(StsMeter).where(StsMeter.pan == meter.pan, StsMeter.active.is_(True))
            .values(last_tid=case((or_(StsMeter.last_tid.is_(None), StsMeter.last_tid < minutes), minutes),
                                  else_=StsMeter.last_tid + 1),
                    last_tid_at=now, updated_at=now)
            .returning(StsMeter.last_tid))
    tid = session.execute(stmt, execution_options={"synchronize_session": False}).scalar_one_or_none()
    if tid is None:  # deactivated meanwhile (``sts meter deactivate`` committed first)
        raise MeterInactive(_inactive(meter.pan))
    _sts(lambda: check_tid(tid))
    _sts(lambda: check_ken(tid, meter.ken))  # also checked by the backend; never trust a replacement blindly
    return tid


def _sale_time(meter: MeterView, tid: int, now: dt.datetime) -> dt.datetime:
    """When the vend is dated: ``now``, or the first second of its TID's minute when the TID had to be taken
    ahead of ``now`` (a later token in the same minute, IEC 62055-41's next-minute rule, or a clock that went
    back), so that no receipt shows a token time later than its time of sale (docs/sts.md, "Time of sale")."""
    return max(now, tid_to_datetime(tid, BaseDate.from_year(meter.base_date)))


def _inactive(pan: str) -> str:
    return f"meter {pan} was taken out of service (sts meter deactivate): no token is issued for it"


def _existing(session: Session, source: str, source_ref: str | None) -> StsVend | None:
    if source_ref is None:
        return None
    return session.execute(select(StsVend).where(StsVend.source == source, StsVend.source_ref == source_ref)
                           ).scalar_one_or_none()


def _issue(session: Session, meter: MeterView, request: b.TokenRequest, kind: str, *, now: dt.datetime,
           backend: b.VendingBackend, source: str, source_ref: str | None, actor: str,
           amount_minor: int | None = None, units: int | None = None, tariff_kwh: str | None = None) -> VendResult:
    if not meter.active:
        raise MeterInactive(_inactive(meter.pan))
    params = _sts(meter.params)
    tid = _take_tid(session, meter, now)
    sold_at = _sale_time(meter, tid, now)
    vended = _sts(lambda: backend.vend(params, request, tid=tid))
    row = StsVend(pan=meter.pan, account_no=meter.account_no, kind=kind, token_class=vended.token_class,
                  subclass=vended.subclass, tid=tid, token=vended.digits, amount_minor=amount_minor, units=units,
                  tariff_kwh=tariff_kwh, source=source, source_ref=source_ref, actor=actor, reprints=0,
                  vended_at=sold_at)
    session.add(row)
    try:
        session.flush()
    except IntegrityError as e:  # unique (pan, tid) or (source, source_ref): e.g. a TID from before a base-date change
        raise VendingError("the vend log already holds this meter's TID or this reference; nothing was issued",
                           code="sts_tid_conflict") from e
    audit.record(session, now=now, actor=actor, action=f"sts.vend_{kind}", subject_type="sts_meter",
                 subject_id=meter.pan, details={"vend_id": row.id, "tid": tid, "units": units,
                                                "amount": amount_minor, "source": source,
                                                "source_ref": source_ref})  # never the token digits
    return _result(row)


def credit_for_money(session: Session, account_no: str, amount_minor: int, *, now: dt.datetime, catalog: Catalog,
                     config: MeteringConfig | None = None) -> tuple[Decimal, int]:
    """(kWh the tariff gives for the money, 0.01 rounded down; 0.1 kWh units the meter will credit)."""
    config = config or MeteringConfig()
    today = config.local_date(now)
    found = pos.load(session, [account_no], cutoff=today, tz=config.tz)
    if not found:
        raise AccountNotMetered(f"account {account_no} has no tariff assignment")
    try:
        kwh = kwh_for_money(found[0], amount_minor, catalog, today)
    except TariffError as e:
        raise VendingError(f"the account's tariff cannot price today: {e}", code="sts_tariff_error") from e
    units = _sts(lambda: kwh_to_units(kwh))
    return kwh, _sts(lambda: representable_units(units))


def vend_for_credit(session: Session, account_no: str, amount_minor: int, now: dt.datetime,
                    backend: b.VendingBackend, *, catalog: Catalog, config: MeteringConfig | None = None,
                    pan: str | None = None, source: str = "manual", source_ref: str | None = None,
                    actor: str = "system") -> VendResult:
    """A class 0 electricity token for ``amount_minor`` of money on the account's STS meter.

    ``pan`` (optional) must be the account's active meter (Luhn checked). With a
    ``source_ref`` the vend is idempotent: the same (source, ref) returns the
    token issued the first time (``replayed``) instead of a second one.
    """
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int) or amount_minor <= 0:
        raise VendingError("the amount to vend must be positive", code="sts_invalid_amount")
    digits = parse_pan(pan) if pan is not None else None
    previous = _existing(session, source, source_ref)
    if previous is not None and previous.account_no == account_no and digits in (None, previous.pan):
        return _result(previous, replayed=True)  # even if the meter was deactivated since: nothing new is issued
    meter = find_meter(session, account_no)
    if digits is not None and (meter is None or meter.pan != digits):
        if inactive_meter_of(session, account_no, digits) is not None:
            raise MeterInactive(_inactive(digits))
        raise UnknownMeter(f"meter {digits} is not the STS meter of account {account_no}")
    if meter is None:
        old = inactive_meter_of(session, account_no)
        if old is not None:
            raise MeterInactive(f"account {account_no} has no active STS meter ({_inactive(old)})")
        raise UnknownMeter(f"account {account_no} has no STS meter")
    kwh, units = credit_for_money(session, account_no, amount_minor, now=now, catalog=catalog, config=config)
    if units <= 0:
        raise VendingError("the amount buys no electricity", code="sts_invalid_amount")
    _books(lambda: energy_sales.reserve_prepaid(session, account_no, amount_minor))  # before the TID record
    result = _issue(session, meter, b.CreditRequest(units=units), "credit", now=now, backend=backend,
                    source=source, source_ref=source_ref, actor=actor, amount_minor=amount_minor, units=units,
                    tariff_kwh=format(kwh, "f"))
    sale = _books(lambda: energy_sales.book_energy_sale(
        session, account_no, amount_minor, external_ref=energy_sale_ref(result.vend_id), occurred_at=now, now=now,
        actor=actor, memo=f"STS token for meter {meter.pan}, TID {result.tid}"))
    row = session.get(StsVend, result.vend_id)  # in the identity map since _issue added it
    assert row is not None
    row.ledger_transaction_id = sale.transaction_id
    session.flush()
    return replace(result, transaction_id=sale.transaction_id)


def energy_sale_ref(vend_id: int) -> str:
    """The external reference of the energy sale booked with vend ``vend_id`` (source ``energy_sale``)."""
    return f"sts_vend:{vend_id}"


def _books(call):  # type: ignore[no-untyped-def]
    """Refusals of the books as vending refusals (the caller's transaction rolls back)."""
    try:
        return call()
    except energy_sales.InsufficientPrepaid as e:
        raise VendingError(str(e), code="sts_insufficient_balance") from e
    except LedgerError as e:
        raise VendingError(f"the books refused the energy sale: {e}", code="sts_books_error") from e


def vend_engineering(session: Session, pan: str, kind: str, now: dt.datetime, backend: b.VendingBackend, *,
                     watts: int | None = None, actor: str = "system") -> VendResult:
    """Class 2 tokens: ``clear_credit`` (all registers), ``clear_tamper``, ``max_power`` (``watts``)."""
    meter = get_meter(session, pan)
    request: b.TokenRequest
    if kind == "max_power":
        if isinstance(watts, bool) or not isinstance(watts, int) or watts < 0:
            raise VendingError("a maximum power limit needs whole watts >= 0", code="sts_invalid_amount")
        units = _sts(lambda: representable_units(watts))
        request = b.SetMaximumPowerLimitRequest(watts)
    elif kind in ("clear_credit", "clear_tamper"):
        if watts is not None:
            raise VendingError(f"{kind} takes no watts", code="sts_invalid_input")
        units = None
        request = b.ClearCreditRequest() if kind == "clear_credit" else b.ClearTamperRequest()
    else:
        raise VendingError(f"unknown engineering token {kind!r}: use one of {', '.join(ENGINEERING_KINDS)}",
                           code="sts_invalid_input")
    return _issue(session, meter, request, kind, now=now, backend=backend, source="engineering", source_ref=None,
                  actor=actor, units=units)


def reprint_last(session: Session, pan: str, *, now: dt.datetime, actor: str = "system",
                 kind: str | None = None) -> VendResult:
    """The meter's last token again (same digits, same TID: a meter accepts it once)."""
    meter = get_meter(session, pan)
    query = select(StsVend).where(StsVend.pan == meter.pan)
    if kind is not None:
        query = query.where(StsVend.kind == kind)
    row = session.execute(query.order_by(StsVend.id.desc()).limit(1)).scalar_one_or_none()
    if row is None:
        raise NothingToReprint(f"no token was issued for meter {meter.pan}")
    row.reprints = (row.reprints or 0) + 1
    session.flush()
    audit.record(session, now=now, actor=actor, action="sts.reprint", subject_type="sts_meter",
                 subject_id=meter.pan, details={"vend_id": row.id, "tid": row.tid, "reprints": row.reprints})
    return _result(row)


@dataclass(frozen=True)
class CreditFields:
    """What an API response gains from a vend: the ``sts`` object and the money sold as energy."""

    sts: dict[str, object]
    sold_minor: int  # moved from the prepaid balance to revenue by this vend (0: no token)


def credit_fields(session: Session, account_no: str, amount_minor: int, now: dt.datetime,
                  backend_factory, *, catalog: Catalog, source: str, source_ref: str,  # type: ignore[no-untyped-def]
                  actor: str) -> CreditFields | None:
    """For the API: the ``sts`` object and the money sold when the account has an active STS meter, else None.

    ``amount_minor`` is the money that reached the prepaid balance (arrears are
    paid first); when it is 0 the object says so and carries no token. A vend
    replayed by its (source, ref) reports the money its first time sold.
    """
    meter = find_meter(session, account_no)
    if meter is None and _existing(session, source, source_ref) is None:
        return None  # no keypad meter (any more), and this request vended nothing before
    if amount_minor <= 0:
        if meter is None:
            return None
        return CreditFields({"token": None, "tid": None, "meter": meter.pan, "kind": "credit", "kwh": "0.0",
                             "tariff_kwh": "0.00", "note": "all of the money paid arrears; no token"}, 0)
    result = vend_for_credit(session, account_no, amount_minor, now, backend_factory(), catalog=catalog,
                             source=source, source_ref=source_ref, actor=actor)
    return CreditFields(result.as_response(), result.amount_minor or 0)


def vends_for(session: Session, account_no: str, source: str, source_ref: str) -> bool:
    """Whether :func:`credit_fields` has anything to do: an active STS meter, or a vend by this (source, ref)."""
    meter = select(StsMeter.pan).where(StsMeter.account_no == account_no, StsMeter.active.is_(True)).exists()
    vend = select(StsVend.id).where(StsVend.source == source, StsVend.source_ref == source_ref).exists()
    return bool(session.execute(select(or_(meter, vend))).scalar())

