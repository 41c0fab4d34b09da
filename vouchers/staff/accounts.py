"""Staff accounts in the database: create, list, disable, verify a login, step up, reset the second factor.

Plain values and ``now`` in, plain results or :class:`StaffError` out; every
change is an audit event. The TOTP seal key is passed in by the edge (derived
from the pepper it already holds).
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session

from vouchers.errors import VoucherError
from vouchers.staff import passwords, totp
from vouchers.staff.roles import ADMIN, APPROVER, DISTRIBUTOR, ROLES, format_roles, parse_roles
from vouchers.storage import audit
from vouchers.storage.staff_models import StaffAccount, StaffSession

_USERNAME = re.compile(r"[a-z][a-z0-9_.\-]{1,63}")
_DISTRIBUTOR = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


class StaffError(VoucherError):
    code = "staff_error"


class InvalidStaff(StaffError, ValueError):
    code = "invalid_staff"


class StaffNotFound(StaffError):
    code = "staff_not_found"


class StaffMakerChecker(StaffError):
    code = "maker_checker"


@dataclass(frozen=True)
class StaffInfo:
    """A staff member as the edges see them (never the password hash or the TOTP secret)."""

    pk: int
    username: str
    roles: frozenset[str]
    distributor_id: str | None
    disabled: bool
    created_at: dt.datetime
    reset_requested_by: str | None = None

    def has(self, role: str) -> bool:
        return role in self.roles

    def as_json(self) -> dict[str, object]:
        return {"username": self.username, "roles": [r for r in ROLES if r in self.roles],
                "distributor_id": self.distributor_id, "disabled": self.disabled,
                "created_at": self.created_at.isoformat(), "reset_requested_by": self.reset_requested_by}

    @classmethod
    def of(cls, row: StaffAccount) -> StaffInfo:
        return cls(row.id, row.username, parse_roles(row.roles), row.distributor_id, bool(row.disabled),
                   row.created_at, row.reset_requested_by)


@dataclass(frozen=True)
class Enrolment:
    """What a new account (or a reset) shows once: the TOTP secret and its otpauth:// URI."""

    staff: StaffInfo
    totp_secret: str
    otpauth_uri: str


def any_staff(session: Session) -> bool:
    """True once a staff account exists: from then on maker-checker names must be proven."""
    return bool(session.execute(select(exists().where(StaffAccount.id.is_not(None)))).scalar())


def _row(session: Session, username: str) -> StaffAccount | None:
    return session.execute(select(StaffAccount).where(StaffAccount.username == (username or "").strip().lower())
                           ).scalar_one_or_none()


def get_staff(session: Session, username: str) -> StaffInfo:
    row = _row(session, username)
    if row is None:
        raise StaffNotFound(f"no staff member {username!r}")
    return StaffInfo.of(row)


def staff_by_pk(session: Session, pk: int) -> StaffInfo | None:
    row = session.get(StaffAccount, pk)
    return StaffInfo.of(row) if row is not None else None


def _check_roles(roles: tuple[str, ...] | list[str], distributor_id: str | None) -> frozenset[str]:
    chosen = frozenset(roles)
    if not chosen:
        raise InvalidStaff(f"give at least one --role ({', '.join(ROLES)})")
    unknown = sorted(chosen - set(ROLES))
    if unknown:
        raise InvalidStaff(f"unknown role {unknown[0]!r}: one of {', '.join(ROLES)}")
    if DISTRIBUTOR in chosen:
        if not distributor_id or not _DISTRIBUTOR.fullmatch(distributor_id):
            raise InvalidStaff("distributor staff need --distributor ID (letters, digits, _ . -)")
        if len(chosen) > 1:
            raise InvalidStaff("distributor staff hold no other role (they see only their distributor)")
    elif distributor_id:
        raise InvalidStaff("--distributor applies only to the distributor role")
    return chosen


def _enrolment(key: bytes, username: str) -> tuple[str, bytes, str]:
    secret = totp.new_secret()
    return secret, totp.seal(key, secret, username), totp.provisioning_uri(secret, username)


def create_staff(session: Session, *, username: str, roles: tuple[str, ...] | list[str], password: str,
                 seal_key: bytes, now: dt.datetime, actor: str, distributor_id: str | None = None) -> Enrolment:
    """A new account with a fresh TOTP secret (returned once, stored sealed)."""
    username = (username or "").strip()
    if not _USERNAME.fullmatch(username):
        raise InvalidStaff("username: 2..64 lower-case letters, digits, _ . - (starting with a letter)")
    chosen = _check_roles(roles, distributor_id)
    passwords.check_password(password, username=username)
    if _row(session, username) is not None:
        raise InvalidStaff(f"staff member {username!r} already exists")
    secret, sealed, uri = _enrolment(seal_key, username)
    row = StaffAccount(username=username, roles=format_roles(chosen), distributor_id=distributor_id,
                       password_hash=passwords.hash_password(password), totp_sealed=sealed, totp_last_step=None,
                       disabled=False, created_at=now, created_by=actor)
    session.add(row)
    session.flush()
    audit.record(session, now=now, actor=actor, action="staff.create", subject_type="staff", subject_id=username,
                 to_state="active", details={"staff_id": row.id, "roles": format_roles(chosen),
                                             "distributor_id": distributor_id})
    return Enrolment(StaffInfo.of(row), secret, uri)


def list_staff(session: Session) -> list[StaffInfo]:
    return [StaffInfo.of(r) for r in session.execute(select(StaffAccount).order_by(StaffAccount.id)).scalars()]


def end_sessions_of(session: Session, staff_pk: int, now: dt.datetime) -> int:
    return session.execute(update(StaffSession).where(StaffSession.staff_pk == staff_pk,
                                                      StaffSession.ended_at.is_(None))
                           .values(ended_at=now)).rowcount


def disable_staff(session: Session, username: str, *, now: dt.datetime, actor: str, reason: str) -> StaffInfo:
    """Disable an account and end every session of it at once."""
    row = _row(session, username)
    if row is None:
        raise StaffNotFound(f"no staff member {username!r}")
    if row.disabled:
        raise InvalidStaff(f"staff member {row.username} is already disabled")
    row.disabled, row.disabled_at = True, now
    ended = end_sessions_of(session, row.id, now)
    audit.record(session, now=now, actor=actor, action="staff.disable", subject_type="staff",
                 subject_id=row.username, from_state="active", to_state="disabled", reason=reason,
                 details={"staff_id": row.id, "sessions_ended": ended})
    return StaffInfo.of(row)


def verify_login(session: Session, username: str, password: str, code: str, *, seal_key: bytes,
                 now: dt.datetime) -> StaffInfo | None:
    """The account if password and a fresh TOTP code both match and it is enabled, else None.

    An unknown username costs the same Argon2 verification; the code's time step is consumed only on
    success, so a failed attempt never burns someone's code.
    """
    row = _row(session, username)
    ok = passwords.verify_password(row.password_hash if row is not None else None, password or "")
    if row is None or not ok or row.disabled:
        return None
    step = totp.matching_step(totp.unseal(seal_key, row.totp_sealed, row.username), code, now, row.totp_last_step)
    if step is None:
        return None
    row.totp_last_step = step
    return StaffInfo.of(row)


def step_up(session: Session, staff_pk: int, code: str, *, seal_key: bytes, now: dt.datetime) -> bool:
    """A fresh second factor at the moment of an approval: a code not used before (each code once)."""
    row = session.get(StaffAccount, staff_pk, with_for_update=True)
    if row is None or row.disabled:
        return False
    step = totp.matching_step(totp.unseal(seal_key, row.totp_sealed, row.username), code, now, row.totp_last_step)
    if step is None:
        return False
    row.totp_last_step = step
    return True


def request_2fa_reset(session: Session, username: str, *, now: dt.datetime, maker: StaffInfo) -> StaffInfo:
    """The maker's half of a second-factor reset (an admin); an approver completes it."""
    if not maker.has(ADMIN):
        raise StaffMakerChecker(f"{maker.username} is not an admin: only an admin may request a 2FA reset")
    row = _row(session, username)
    if row is None:
        raise StaffNotFound(f"no staff member {username!r}")
    if row.username == maker.username:
        raise StaffMakerChecker("nobody may request the reset of their own second factor")
    row.reset_requested_by, row.reset_requested_at = maker.username, now
    audit.record(session, now=now, actor=maker.username, action="staff.reset_2fa.request", subject_type="staff",
                 subject_id=row.username, details={"staff_id": maker.pk})
    return StaffInfo.of(row)


def approve_2fa_reset(session: Session, username: str, *, seal_key: bytes, now: dt.datetime,
                      checker: StaffInfo) -> Enrolment:
    """The checker's half: a different person with the approver role; a new secret, sessions ended."""
    row = _row(session, username)
    if row is None:
        raise StaffNotFound(f"no staff member {username!r}")
    if row.reset_requested_by is None:
        raise StaffMakerChecker(f"no 2FA reset of {row.username} was requested (an admin requests it first)")
    if not checker.has(APPROVER):
        raise StaffMakerChecker(f"{checker.username} does not hold the approver role")
    if checker.username in (row.reset_requested_by, row.username):
        raise StaffMakerChecker(f"{checker.username} requested this reset or is its subject: a second person "
                                "must approve it")
    secret, sealed, uri = _enrolment(seal_key, row.username)
    maker = row.reset_requested_by
    row.totp_sealed, row.totp_last_step = sealed, None
    row.reset_requested_by = row.reset_requested_at = None
    end_sessions_of(session, row.id, now)
    audit.record(session, now=now, actor=checker.username, action="staff.reset_2fa.approve", subject_type="staff",
                 subject_id=row.username, details={"staff_id": checker.pk, "requested_by": maker})
    return Enrolment(StaffInfo.of(row), secret, uri)


def count_staff(session: Session) -> int:
    return session.execute(select(func.count()).select_from(StaffAccount)).scalar_one()
