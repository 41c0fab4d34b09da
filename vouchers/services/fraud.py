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

from sqlalchemy import select
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
