"""Fraud alerts: attempts on void, not-yet-activated or canary vouchers, and lockouts.

These are rules of the same alert model as the money rules
(:mod:`vouchers.services.fraud_rules`): each alert joins its subject's case.

Written in the transaction that records the failed attempt (after the
redemption's own transaction rolled back). ``voucherctl fraud alerts``
lists them. No row holds a code or token.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, cast, insert, select
from sqlalchemy.orm import Session

from vouchers.storage.api_models import FraudAlert
from vouchers.money import format_amount

# kinds
VOID_VOUCHER = "void_voucher"
INACTIVE_VOUCHER = "inactive_voucher"
CANARY_SERIAL = "canary_serial"
LOCKOUT = "lockout"
FORGED_TOKEN = "forged_token"
KINDS = (VOID_VOUCHER, INACTIVE_VOUCHER, CANARY_SERIAL, FORGED_TOKEN, LOCKOUT)


@dataclass(frozen=True)
class AlertRecord:
    id: int
    at: dt.datetime
    kind: str
    serial: str | None
    voucher_status: str | None
    channel: str
    client_id: str | None
    ip: str | None
    account_no: str | None
    details: dict[str, Any] | None
    action: str | None = None
    subject: str | None = None  # "<type>:<id>", the case's subject
    case_id: int | None = None
    amount: int | None = None
    hold_id: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at.isoformat(), "kind": self.kind, "serial": self.serial,
                "voucher_status": self.voucher_status, "channel": self.channel, "client_id": self.client_id,
                "ip": self.ip, "account_no": self.account_no, "details": self.details,
                "action": self.action or "alert", "subject": self.subject, "case_id": self.case_id,
                "amount": format_amount(self.amount) if self.amount is not None else None, "hold_id": self.hold_id}


def record_alert(session: Session, *, now: dt.datetime, kind: str, channel: str, serial: str | None = None,
                 voucher_status: str | None = None, client_id: str | None = None, ip: str | None = None,
                 account_no: str | None = None, details: dict[str, Any] | None = None) -> None:
    from vouchers.services.fraud_engine import case_for  # the one alert model: these join their cases too

    subject_type, subject_id = (("terminal", client_id) if client_id else ("account", account_no) if account_no
                                else ("ip", ip or "unknown"))
    session.add(FraudAlert(at=now, kind=kind, serial=serial, voucher_status=voucher_status, channel=channel,
                           client_id=client_id, ip=ip, account_no=account_no,
                           details=json.dumps(details, sort_keys=True, ensure_ascii=False) if details else None,
                           action="alert", subject_type=subject_type, subject_id=subject_id[:64],
                           case_id=case_for(session, subject_type, subject_id[:64], now)))


_FA = FraudAlert.__table__
_ALERT_COLUMNS = ("at", "kind", "serial", "voucher_status", "channel", "client_id", "ip", "account_no")
# The same statement for every refused code, whether it writes an alert row or none: a refusal's timing
# must not tell a void or unsold card from an unknown code (issue 21, finding 6).
def _alert_if_any(typed: bool):  # type: ignore[no-untyped-def]
    """PostgreSQL needs the parameters' types spelled out (CAST); SQLite must not (its CAST to a date
    makes a number)."""
    def param(c: str):  # type: ignore[no-untyped-def]
        value = bindparam(c, type_=_FA.c[c].type)
        return cast(value, _FA.c[c].type) if typed else value

    return insert(_FA).from_select(list(_ALERT_COLUMNS),
                                   select(*(param(c) for c in _ALERT_COLUMNS)).where(param("kind").is_not(None)))


_ALERT_IF_ANY = {True: _alert_if_any(True), False: _alert_if_any(False)}


def record_alert_if_any(session: Session, *, now: dt.datetime, kind: str | None, channel: str,
                        serial: str | None = None, voucher_status: str | None = None, client_id: str | None = None,
                        ip: str | None = None, account_no: str | None = None) -> None:
    """One INSERT ... SELECT ... WHERE kind IS NOT NULL: executed for every refusal, a row only for an alert."""
    statement = _ALERT_IF_ANY[session.get_bind().dialect.name == "postgresql"]
    session.execute(statement, {"at": now, "kind": kind, "serial": serial if kind else None,
                                    "voucher_status": voucher_status if kind else None, "channel": channel,
                                    "client_id": client_id, "ip": ip, "account_no": account_no})


def list_alerts(session: Session, *, since: dt.datetime | None = None, kind: str | None = None,
                limit: int = 1000) -> list[AlertRecord]:
    query = select(FraudAlert).order_by(FraudAlert.id.desc()).limit(limit)
    if since is not None:
        query = query.where(FraudAlert.at >= since)
    if kind is not None:
        query = query.where(FraudAlert.kind == kind)
    return [AlertRecord(a.id, a.at, a.kind, a.serial, a.voucher_status, a.channel, a.client_id, a.ip, a.account_no,
                        json.loads(a.details) if a.details else None, a.action,
                        f"{a.subject_type}:{a.subject_id}" if a.subject_type else None, a.case_id, a.amount,
                        a.hold_id)
            for a in session.execute(query).scalars()]


@dataclass(frozen=True)
class Lockout:
    """A throttle subject with failures in its window, and whether it is locked out now."""

    subject: str  # the counter key: client:<id>, ip:<addr>, account:<no> (tills), account:web:<no>
    failures: int
    limit: int
    seconds_left: int

    @property
    def locked(self) -> bool:
        return self.failures >= self.limit

    def as_json(self) -> dict[str, Any]:
        return {"subject": self.subject, "failures": self.failures, "limit": self.limit,
                "locked": self.locked, "retry_after": self.seconds_left}


def list_lockouts(session: Session, throttle: Any, limits: Any, *, now: dt.datetime,
                  locked_only: bool = False) -> list[Lockout]:
    """Subjects counting failures now (``throttle``: the store in force, ``limits``: ThrottleLimits)."""
    found = []
    for counter in throttle.counters(session, now):
        limit = limits.limit_of(counter.key)
        if limit is not None:
            found.append(Lockout(counter.key, counter.failures, limit, counter.seconds_left))
    return [f for f in found if f.locked or not locked_only]


def unlock(session: Session, throttle: Any, keys: list[str], *, subject_type: str, subject_id: str, reason: str,
           now: dt.datetime, actor: str) -> int:
    """Forget the failures of one subject (an account in every channel, an IP or a client); audited."""
    from vouchers.storage import audit

    cleared = throttle.clear(session, keys)
    audit.record(session, now=now, actor=actor, action="throttle.unlock", subject_type=subject_type,
                 subject_id=subject_id, reason=reason, details={"counters": keys, "cleared": cleared})
    return cleared
