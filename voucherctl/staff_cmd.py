"""``voucherctl staff``: create, list, disable, contact, reset-2fa; ``voucherctl login`` / ``logout``."""
from __future__ import annotations

from pathlib import Path

import click

from voucherctl import context
from voucherctl.output import OPERATOR, REASON, CliError, emit, json_option
from voucherctl.staff_auth import prove, prove_checker, read_token, totp_option, write_token
from vouchers.services import staff as staff_service
from vouchers.staff import accounts, passwords
from vouchers.staff.roles import ADMIN, ROLES


def _password(password_file: Path | None, username: str) -> str:
    if password_file is not None:
        try:
            text = password_file.read_text("utf-8")
        except OSError as e:
            raise CliError(f"cannot read --password-file {password_file}: {e.strerror}") from e
        return text.rstrip("\r\n")
    return click.prompt(f"password for {username}", hide_input=True, confirmation_prompt=True, err=True)


def _enrolment_json(enrolment: accounts.Enrolment) -> dict:
    return {**enrolment.staff.as_json(), "totp_secret": enrolment.totp_secret, "otpauth_uri": enrolment.otpauth_uri}


@click.group()
def staff() -> None:
    """Staff accounts: password + TOTP, roles; the console's and the CLI's people (docs/console.md)."""


@staff.command("create")
@click.option("--username", required=True, help="Lower-case login name.")
@click.option("--role", "roles", multiple=True, required=True, type=click.Choice(ROLES),
              help="A role; repeat for several.")
@click.option("--distributor", "distributor_id", default=None, help="The distributor of distributor staff.")
@click.option("--password-file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Read the password from this file (else asked twice).")
@click.option("--operator", default="cli", show_default=True, type=OPERATOR,
              help="Who creates it: once staff exist, a logged-in admin.")
@json_option
def create(username: str, roles: tuple[str, ...], distributor_id: str | None, password_file: Path | None,
           operator: str, as_json: bool) -> None:
    """Create a staff account; prints its TOTP secret and otpauth:// URI once (enrol them in an app)."""
    password = _password(password_file, username)
    passwords.check_password(password, username=username)  # before anything else: nothing is asked in vain
    key = context.totp_seal_key()
    with context.sessions().begin() as session:
        actor = prove(session, operator, action="staff_create", subject_type="staff", subject_id=username,
                      role=ADMIN)
        enrolment = accounts.create_staff(session, username=username, roles=roles, password=password, seal_key=key,
                                          now=context.now(), actor=actor, distributor_id=distributor_id)
    emit(as_json, _enrolment_json(enrolment), lambda: click.echo(
        f"created staff member {enrolment.staff.username} ({', '.join(sorted(enrolment.staff.roles))})\n"
        f"TOTP secret (shown once): {enrolment.totp_secret}\n{enrolment.otpauth_uri}"))


@staff.command("list")
@json_option
def list_cmd(as_json: bool) -> None:
    """Every staff account with its roles and state (no secret)."""
    with context.sessions().begin() as session:
        found = accounts.list_staff(session)
    emit(as_json, {"staff": [s.as_json() for s in found]}, lambda: [
        click.echo(f"{s.username:<20} {'disabled' if s.disabled else 'active':<9} {','.join(sorted(s.roles))}"
                   + (f" ({s.distributor_id})" if s.distributor_id else "")) for s in found
    ] or click.echo("no staff accounts"))


@staff.command("disable")
@click.argument("username")
@click.option("--reason", required=True, type=REASON)
@click.option("--operator", required=True, type=OPERATOR, help="A logged-in admin.")
@json_option
def disable(username: str, reason: str, operator: str, as_json: bool) -> None:
    """Disable an account: its sessions end at once, it can no longer log in."""
    with context.sessions().begin() as session:
        actor = prove(session, operator, action="staff_disable", subject_type="staff", subject_id=username,
                      role=ADMIN)
        info = accounts.disable_staff(session, username, now=context.now(), actor=actor, reason=reason)
    emit(as_json, info.as_json(), f"disabled {info.username}")


@staff.command("contact")
@click.argument("username")
@click.option("--phone", default=None, help="The staff member's phone ('' clears it).")
@click.option("--address", default=None, help="Home address ('' clears it).")
@click.option("--operator", required=True, type=OPERATOR, help="A logged-in admin.")
@json_option
def contact(username: str, phone: str | None, address: str | None, operator: str, as_json: bool) -> None:
    """Record a staff member's phone and address: money onto a customer account sharing either raises the
    fraud alert insider.staff_match."""
    with context.sessions().begin() as session:
        actor = prove(session, operator, action="staff_contact", subject_type="staff", subject_id=username,
                      role=ADMIN)
        info = staff_service.set_contact(session, username, phone=phone, address=address, now=context.now(),
                                         actor=actor)
    emit(as_json, info.as_json(), f"contact details of {info.username} recorded")


@staff.command("reset-2fa")
@click.argument("username")
@click.option("--operator", required=True, type=OPERATOR,
              help="Request: a logged-in admin. --approve: a different logged-in approver.")
@click.option("--approve", is_flag=True, help="Approve a requested reset (the checker's half).")
@totp_option
@json_option
def reset_2fa(username: str, operator: str, approve: bool, totp_code: str | None, as_json: bool) -> None:
    """Maker-checker reset of a lost second factor: an admin requests, another person (approver) approves."""
    key = context.totp_seal_key() if approve else b""
    with context.sessions().begin() as session:
        if not accounts.any_staff(session):
            raise CliError("there are no staff accounts")
        if not approve:
            actor = prove(session, operator, action="staff_reset_2fa_request", subject_type="staff",
                          subject_id=username, role=ADMIN)
            info = accounts.request_2fa_reset(session, username, now=context.now(),
                                              maker=accounts.get_staff(session, actor))
            emit(as_json, info.as_json(), f"2FA reset of {info.username} requested by {actor}: "
                                          "an approver completes it with --approve")
            return
        actor = prove_checker(session, operator, action="staff_reset_2fa_approve", subject_type="staff",
                              subject_id=username, totp_code=totp_code)
        enrolment = accounts.approve_2fa_reset(session, username, seal_key=key, now=context.now(),
                                               checker=accounts.get_staff(session, actor))
    emit(as_json, _enrolment_json(enrolment), lambda: click.echo(
        f"new TOTP secret of {enrolment.staff.username} (shown once): {enrolment.totp_secret}\n"
        f"{enrolment.otpauth_uri}"))


@click.command("login")
@click.option("--username", required=True)
@click.option("--password-file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Read the password from this file (else asked).")
@totp_option
@json_option
def login(username: str, password_file: Path | None, totp_code: str | None, as_json: bool) -> None:
    """Prove who you are (password + TOTP): a short-lived session for --operator on this machine."""
    if password_file is not None:
        password = _password(password_file, username)
    else:
        password = click.prompt(f"password for {username}", hide_input=True, err=True)
    code = totp_code or click.prompt(f"TOTP code for {username}", err=True)
    config = context.staff_config()
    from vouchers.services.throttle import DatabaseThrottle

    key = context.totp_seal_key()
    refused: staff_service.LoginRefused | None = None
    with context.sessions().begin() as session:
        try:
            done = staff_service.login(
                session, username=username, password=password, code=code, ip=None, kind="cli",
                throttle=DatabaseThrottle(15 * 60), seal_key=key, now=context.now(),
                limits=staff_service.LoginLimits(config.login_user_failures, config.login_ip_failures))
        except staff_service.LoginRefused as e:
            refused = e  # committed: the failure counts even though the command fails
    if refused is not None:
        raise refused
    path = write_token(done.token)
    minutes = int(config.idle.total_seconds() // 60)
    emit(as_json, {"username": done.staff.username, "session_id": done.session_id, "token_file": str(path),
                   "idle_minutes": minutes},
         f"logged in as {done.staff.username} (session {done.session_id}; ends after {minutes} min unused)")


@click.command("logout")
@json_option
def logout(as_json: bool) -> None:
    """End this machine's `voucherctl login` session and delete its token file."""
    token = read_token()
    with context.sessions().begin() as session:
        from voucherctl.staff_auth import logged_in

        who = logged_in(session)
        staff_service.logout(session, token, staff=who.staff if who else None, now=context.now())
    context.staff_session_file().unlink(missing_ok=True)
    emit(as_json, {"logged_out": who.staff.username if who else None},
         f"logged out {who.staff.username}" if who else "no live session")
