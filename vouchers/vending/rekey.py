"""Key change: move a meter to a new SGC / TI / KRN / key type / KEN / base date.

:func:`change_key`, inside the caller's transaction:

1. the meter (``sts_unknown_meter``; a PAN failing Luhn is ``sts_invalid_pan``)
   and the new parameters (each one not given stays as it is); the same
   parameters again are refused (``sts_same_key``);
2. the TID record under the new key: when the base date changes the key change
   sets RO (rollover) and the meter clears its TID memory, so the record
   restarts; otherwise it continues (the meter still remembers the TIDs it has
   seen). The first TID the new key would get must pass the new KEN
   (``sts_key_expired``) and the new base date (``sts_tid_out_of_range``);
3. the four key change tokens for 128-bit decoder keys (class 2 subclasses 3,
   4, 8, 9: 1st..4th section), encrypted under the meter's *current* decoder
   key, from the backend (``vend_key_change``); a missing old or new vending key
   is refused (``sts_no_vending_key`` / ``sts_wrong_key_revision``);
4. one conditional ``UPDATE`` of the meter row - only if it still has the old
   parameters and the TID record read in step 2, else ``sts_meter_changed``
   (a vend or another key change got there first: try again) - then the
   history row (``sts_key_changes``: old and new parameters, the TID record
   before) and an audit event (no key bytes, no token digits).

Key change tokens carry no TID (their 44 data bits are all key material), so
none is taken from the TID record; the vends after the change take theirs from
it as usual, and derive the meter's decoder key from the new parameters.
The tokens are not stored: :func:`reprint_key_change` derives them again from
the history row (they are deterministic) as long as both vending keys are in
the key store.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from vouchers.storage import audit
from vouchers.storage.sts_models import StsKeyChange, StsMeter
from vouchers.sts import backend as b
from vouchers.sts.dkga04 import MeterKeyParams
from vouchers.sts.errors import StsError
from vouchers.sts.pan import MeterPan
from vouchers.sts.tid import BaseDate, check_ken, next_tid
from vouchers.sts.transposition import group_digits
from vouchers.vending.errors import MeterInactive, NothingToReprint, VendingError, WrongKeyRevision
from vouchers.vending.meters import MeterView, get_meter

PARAMS = ("sgc", "ti", "krn", "key_type", "ken", "base_date")


class SameKey(VendingError):
    code = "sts_same_key"


class MeterChanged(VendingError):
    code = "sts_meter_changed"


@dataclass(frozen=True)
class KeyChangeResult:
    change_id: int
    pan: str
    account_no: str
    tokens: tuple[str, ...] = field(repr=False)  # 1st..4th section, 20 digits each, to be entered in this order
    old: dict[str, int]
    new: dict[str, int]
    rollover: bool
    last_tid: int | None  # the TID record after the change (None: restarted)
    changed_at: dt.datetime
    reprints: int = 0

    @property
    def grouped(self) -> tuple[str, ...]:
        return tuple(group_digits(t) for t in self.tokens)

    def as_dict(self) -> dict[str, object]:
        def shown(params: dict[str, int]) -> dict[str, object]:
            return {**params, "sgc": f"{params['sgc']:06d}"}

        return {"change_id": self.change_id, "pan": self.pan, "account_no": self.account_no,
                "tokens": list(self.tokens), "tokens_grouped": list(self.grouped),
                "old": shown(self.old), "new": shown(self.new), "rollover": self.rollover,
                "last_tid": self.last_tid, "reprints": self.reprints,
                "changed_at": self.changed_at.astimezone(dt.timezone.utc).isoformat()}


def _sts(call):  # type: ignore[no-untyped-def]
    try:
        return call()
    except StsError as e:
        raise VendingError.from_sts(e) from e


def _key_of(params: MeterKeyParams) -> tuple[int, int, int]:
    return params.sgc, params.krn, params.key_type


def _key_change_tokens(backend: b.VendingBackend, old: MeterKeyParams,
                       new: MeterKeyParams) -> tuple[b.VendedToken, ...]:
    """The backend's four tokens; a missing revision is named as this key change's old or new key."""
    try:
        return _sts(lambda: backend.vend_key_change(old, new))
    except WrongKeyRevision as e:
        if _key_of(old) == _key_of(new) or e.key not in (_key_of(old), _key_of(new)):
            raise  # the meter's one key: the lookup's own message says it
        role, params = ("new", new) if e.key == _key_of(new) else ("old", old)
        raise WrongKeyRevision(
            f"no vending key for key revision {params.krn} of SGC {params.sgc:06d}, the {role} key of this key "
            f"change (revision {old.krn} -> {new.krn}); the key store holds revision(s) "
            f"{', '.join(map(str, e.held))} only: import it with `voucherctl sts vending-key import`",
            key=e.key, held=e.held) from None


def _params(pan: str, values: dict[str, int]) -> MeterKeyParams:
    return _sts(lambda: MeterKeyParams(pan=MeterPan(pan), sgc=values["sgc"], ti=values["ti"], krn=values["krn"],
                                       key_type=values["key_type"], base_date=BaseDate.from_year(values["base_date"]),
                                       ken=values["ken"]))


def _values(meter: MeterView) -> dict[str, int]:
    return {name: int(getattr(meter, name)) for name in PARAMS}


def change_key(session: Session, pan: str, now: dt.datetime, backend: b.VendingBackend, *,
               sgc: int | None = None, ti: int | None = None, krn: int | None = None,
               key_type: int | None = None, ken: int | None = None, base_date: int | None = None,
               actor: str = "system") -> KeyChangeResult:
    """Issue the key change tokens for ``pan`` and move its record to the new key parameters."""
    meter = get_meter(session, pan)
    if not meter.active:
        raise MeterInactive(f"meter {meter.pan} was taken out of service (sts meter deactivate): "
                            "no key change for it")
    old = _values(meter)
    given = {"sgc": sgc, "ti": ti, "krn": krn, "key_type": key_type, "ken": ken, "base_date": base_date}
    new = {name: (old[name] if value is None else value) for name, value in given.items()}
    old_params, new_params = _params(meter.pan, old), _params(meter.pan, new)
    if new == old:
        raise SameKey(f"meter {meter.pan} already has these key parameters: nothing to change")
    rollover = new["base_date"] != old["base_date"]
    carried = None if rollover else meter.last_tid
    first_tid = _sts(lambda: next_tid(now, carried, new_params.base_date))
    _sts(lambda: check_ken(first_tid, new_params.ken))  # the new key would be expired at once
    tokens = _key_change_tokens(backend, old_params, new_params)
    if len(tokens) != 4 or any(t.token_class != 2 for t in tokens):
        raise VendingError("the vending backend returned no complete key change set", code="sts_backend_error")
    condition = [StsMeter.pan == meter.pan, StsMeter.active.is_(True),
                 *(getattr(StsMeter, name) == value for name, value in old.items()),
                 StsMeter.last_tid.is_(None) if meter.last_tid is None else StsMeter.last_tid == meter.last_tid]
    values: dict[str, object] = {**new, "updated_at": now}
    if rollover:
        values.update(last_tid=None, last_tid_at=None)
    changed = session.execute(update(StsMeter).where(*condition).values(**values),
                              execution_options={"synchronize_session": False}).rowcount
    if changed != 1:
        raise MeterChanged(f"meter {meter.pan} was changed by another vend or key change meanwhile; "
                           "nothing was issued: try again")
    row = StsKeyChange(pan=meter.pan, account_no=meter.account_no, **{f"old_{k}": v for k, v in old.items()},
                       **{f"new_{k}": v for k, v in new.items()}, rollover=rollover, last_tid_before=meter.last_tid,
                       actor=actor, reprints=0, changed_at=now)
    stale = session.identity_map.get(session.identity_key(StsMeter, meter.pan))
    if stale is not None:  # the meter row was updated behind the ORM's back
        session.expire(stale)
    session.add(row)
    session.flush()
    audit.record(session, now=now, actor=actor, action="sts.key_change", subject_type="sts_meter",
                 subject_id=meter.pan, details={"change_id": row.id, "old": old, "new": new, "rollover": rollover,
                                                "last_tid_before": meter.last_tid})  # no keys, no digits
    return KeyChangeResult(row.id, meter.pan, meter.account_no, tuple(t.digits for t in tokens), old, new, rollover,
                           carried, now)


def reprint_key_change(session: Session, pan: str, now: dt.datetime, backend: b.VendingBackend, *,
                       actor: str = "system") -> KeyChangeResult:
    """The meter's last key change tokens again, derived from the history row (they are deterministic)."""
    meter = get_meter(session, pan)
    row = session.execute(select(StsKeyChange).where(StsKeyChange.pan == meter.pan)
                          .order_by(StsKeyChange.id.desc()).limit(1)).scalar_one_or_none()
    if row is None:
        raise NothingToReprint(f"meter {meter.pan} has had no key change")
    old = {name: int(getattr(row, f"old_{name}")) for name in PARAMS}
    new = {name: int(getattr(row, f"new_{name}")) for name in PARAMS}
    tokens = _key_change_tokens(backend, _params(meter.pan, old), _params(meter.pan, new))
    row.reprints = (row.reprints or 0) + 1
    session.flush()
    audit.record(session, now=now, actor=actor, action="sts.key_change_reprint", subject_type="sts_meter",
                 subject_id=meter.pan, details={"change_id": row.id, "reprints": row.reprints})
    return KeyChangeResult(row.id, meter.pan, row.account_no, tuple(t.digits for t in tokens), old, new,
                           bool(row.rollover), None if row.rollover else row.last_tid_before, row.changed_at,
                           row.reprints)
