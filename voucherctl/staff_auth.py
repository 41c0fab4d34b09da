"""Maker-checker bound to people in the CLI: an ``--operator`` must be the staff member logged in here.

Once any staff account exists, the commands that need a named person
(approve a batch, void stock, revoke a key, reverse a payment, reset a second
factor, create a batch or a staff account) accept ``--operator NAME`` only if
NAME is the staff member of this machine's live `voucherctl login` session,
holds the role the action needs and, for a checker's action, types a fresh TOTP
code (step-up). With no staff account yet (a fresh install, the demo) the CLI
works as before and says so once (after the first such command that succeeds).
"""
from __future__ import annotations

import os
from pathlib import Path

import click
from sqlalchemy.orm import Session

from voucherctl import context
from voucherctl.output import CliError
from vouchers.services import staff as staff_service
from vouchers.staff import accounts, sessions
from vouchers.staff.roles import APPROVER

_pending = False
NOTE_MARKER = ".no-staff-note-shown"  # under VOUCHER_HOME: the note is shown once per installation

totp_option = click.option("--totp", "totp_code", default=None, metavar="CODE",
                           help="A fresh TOTP code (step-up; asked for when staff accounts exist and it is not given).")


def _no_staff_notice() -> None:
    global _pending
    _pending = True


def flush_note() -> None:
    """After a command succeeded (a failure stays one line): the no-staff note, once per installation."""
    global _pending
    if not _pending:
        return
    _pending = False
    marker = context.settings().home / NOTE_MARKER
    if marker.exists():
        return
    click.echo("voucherctl: note: no staff account exists yet, so --operator is taken as typed "
               "(create the first with `voucherctl staff create`; docs/console.md)", err=True)
    try:
        marker.touch()
    except OSError:
        pass


def read_token(path: Path | None = None) -> str | None:
    path = path or context.staff_session_file()
    try:
        return path.read_text("ascii").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def write_token(token: str) -> Path:
    """The session token, readable by its owner only (created 0600, never widened)."""
    path = context.staff_session_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as file:
        file.write(token + "\n")
    return path


def logged_in(session: Session) -> sessions.Resumed | None:
    limits = context.staff_config()
    return sessions.resume(session, read_token(), now=context.now(),
                           limits=sessions.Limits(limits.idle, limits.absolute), kind="cli")


def session_of(session: Session, operator: str) -> sessions.Resumed:
    """The live CLI session of ``operator`` (staff accounts exist), or one clear line saying why not."""
    who = logged_in(session)
    if who is None:
        raise CliError(f"--operator {operator!r} alone is refused once staff accounts exist: log in first "
                       f"(`voucherctl login --username {operator.lower()}`)")
    if who.staff.username != operator.strip().lower():
        raise CliError(f"--operator {operator!r} is not the staff member logged in here ({who.staff.username})")
    return who


def fresh_code(who: sessions.Resumed, totp_code: str | None) -> str:
    """The step-up code: as given, or asked for on the terminal."""
    return totp_code or click.prompt(f"TOTP code for {who.staff.username}", err=True)


def prove(session: Session, operator: str, *, action: str, subject_type: str, subject_id: str,
          role: str | None = None, step_up: bool = False, totp_code: str | None = None) -> str:
    """The operator name to record, after the proof the current state of the install asks for.

    No staff account: ``operator`` as typed (one note on stderr). Otherwise the live CLI session's
    staff member, who must be ``operator``, hold ``role`` and (``step_up``) type a fresh TOTP code;
    the action is audited with the staff id and session id. Anything else: one clear line.
    """
    if not accounts.any_staff(session):
        _no_staff_notice()
        return operator
    who = session_of(session, operator)
    if role is not None and not who.staff.has(role):
        raise CliError(f"{who.staff.username} does not hold the {role} role needed to {action.replace('_', ' ')}")
    if step_up:
        code = fresh_code(who, totp_code)
        if not accounts.step_up(session, who.staff.pk, code, seal_key=context.totp_seal_key(), now=context.now()):
            raise CliError("the TOTP code is wrong or was already used: a fresh code is needed to approve")
    staff_service.record_action(session, who, action=f"cli.{action}", subject_type=subject_type,
                                subject_id=subject_id, now=context.now(), details={"step_up": step_up})
    return who.staff.username


def prove_checker(session: Session, operator: str, *, action: str, subject_type: str, subject_id: str,
                  totp_code: str | None) -> str:
    """A checker's action: the approver role and a fresh second factor."""
    return prove(session, operator, action=action, subject_type=subject_type, subject_id=subject_id,
                 role=APPROVER, step_up=True, totp_code=totp_code)
