"""Staff use cases shared by the console and the CLI: log in (throttled), step up, audit an action.

A login needs the password and a fresh TOTP code. Failures are counted per
username and per IP address (the same counters whether or not the username
exists, and the same answer: nobody learns which usernames exist), and a
locked subject is refused before any password is checked.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from vouchers.errors import VoucherError
from vouchers.services.throttle import Limit, Throttle
from vouchers.staff import accounts, sessions
from vouchers.staff.accounts import StaffInfo
from vouchers.storage import audit


class LoginRefused(VoucherError):
    """Wrong username, password or code, or a disabled account: one answer for all."""

    code = "login_refused"


class LoginThrottled(VoucherError):
    code = "too_many_attempts"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins: try again in {retry_after} seconds")
        self.retry_after = retry_after


@dataclass(frozen=True)
class LoginLimits:
    per_username: int = 5
    per_ip: int = 20


@dataclass(frozen=True)
class LoggedIn:
    staff: StaffInfo
    token: str
    session_id: str


def _limits(username: str, ip: str | None, limits: LoginLimits) -> list[Limit]:
    # the username is hashed: a counter key never spells out a (possibly mistyped) name or password
    user_key = "staff-user:" + hashlib.sha256((username or "").strip().lower().encode("utf-8")).hexdigest()[:32]
    found = [Limit(user_key, limits.per_username)]
    if ip:
        found.append(Limit(f"staff-ip:{ip}", limits.per_ip))
    return found


def login(session: Session, *, username: str, password: str, code: str, ip: str | None, kind: str,
          throttle: Throttle, limits: LoginLimits, seal_key: bytes, now: dt.datetime) -> LoggedIn:
    """A new session for a proven staff member, or :class:`LoginRefused` / :class:`LoginThrottled`."""
    subjects = _limits(username, ip, limits)
    wait = throttle.retry_after(session, subjects, now)
    if wait is not None:
        raise LoginThrottled(wait)
    staff = accounts.verify_login(session, username, password, code, seal_key=seal_key, now=now)
    if staff is None:
        throttle.record_failure(session, subjects, now)
        raise LoginRefused("wrong username, password or code (or the account is disabled)")
    token, session_id = sessions.start(session, staff, kind=kind, now=now)
    audit.record(session, now=now, actor=staff.username, action="staff.login", subject_type="staff",
                 subject_id=staff.username, details={"staff_id": staff.pk, "session_id": session_id, "kind": kind})
    return LoggedIn(staff, token, session_id)


def logout(session: Session, token: str | None, *, staff: StaffInfo | None, now: dt.datetime) -> None:
    session_id = sessions.end(session, token, now=now)
    if session_id is not None and staff is not None:
        audit.record(session, now=now, actor=staff.username, action="staff.logout", subject_type="staff",
                     subject_id=staff.username, details={"staff_id": staff.pk, "session_id": session_id})


def record_action(session: Session, who: sessions.Resumed, *, action: str, subject_type: str, subject_id: str,
                  now: dt.datetime, reason: str | None = None, details: Mapping[str, Any] | None = None,
                  to_state: str | None = None) -> None:
    """One audit event for a staff action, naming the staff id and the session id."""
    audit.record(session, now=now, actor=who.staff.username, action=action, subject_type=subject_type,
                 subject_id=subject_id, reason=reason, to_state=to_state,
                 details={**(details or {}), "staff_id": who.staff.pk, "session_id": who.session_id})


def set_contact(session: Session, username: str, *, phone: str | None, address: str | None, now: dt.datetime,
                actor: str) -> StaffInfo:
    """Record a staff member's phone and address (normalised as the customers'), audited: the fraud rule
    ``insider.staff_match`` flags money credited to a customer account that shares either. An empty string
    clears one; None leaves it as it is."""
    from sqlalchemy import select

    from vouchers.books.customers import normalise_address, normalise_phone
    from vouchers.storage.staff_models import StaffAccount

    info = accounts.get_staff(session, username)  # StaffNotFound
    row = session.execute(select(StaffAccount).where(StaffAccount.id == info.pk)).scalar_one()
    before = {"phone": row.phone, "address": row.address}
    if phone is not None:
        row.phone = normalise_phone(phone) if phone.strip() else None
    if address is not None:
        row.address = normalise_address(address) if address.strip() else None
    audit.record(session, now=now, actor=actor, action="staff.contact", subject_type="staff", subject_id=row.username,
                 details={"phone_changed": before["phone"] != row.phone,
                          "address_changed": before["address"] != row.address})
    session.flush()
    return info
