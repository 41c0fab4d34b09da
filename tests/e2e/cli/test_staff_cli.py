"""Staff accounts in the CLI and maker-checker bound to logged-in people (in process, both databases)."""
from __future__ import annotations

import datetime as dt
import json
import os
import stat

import pytest
from sqlalchemy import select

from tests.conftest import cheap_sealing
from tests.e2e.cli.conftest import FAR_EXPIRY
from tests.inprocess_cli import in_process_cli
from tests.staff_helpers import GOOD_PASSWORD, cheap_argon2, code
from voucherctl import context, staff_auth
from vouchers.storage.models import AuditEvent


class _Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock(now) -> _Clock:
    return _Clock(now)


@pytest.fixture
def cli(db_url, tmp_path, monkeypatch, capsys, clock):
    monkeypatch.setenv("VOUCHER_KEY_PASSPHRASE", "staff cli passphrase")
    monkeypatch.setenv("VOUCHER_WEB_PASSPHRASE", "staff cli web secret")
    cheap_argon2(monkeypatch)
    monkeypatch.setattr(staff_auth, "_pending", False)
    with cheap_sealing():
        runner = in_process_cli(db_url, tmp_path / "home", monkeypatch, capsys)
        run = next(runner)
        monkeypatch.setattr(context, "now", clock)
        yield run
        next(runner, None)


@pytest.fixture
def password_file(tmp_path):
    path = tmp_path / "password"
    path.write_text(GOOD_PASSWORD + "\n", "utf-8")
    return str(path)


def _ok(result):
    code_, out, err = result
    assert code_ == 0, err
    return json.loads(out) if out.strip().startswith("{") else out


def _refused(result, words: str) -> str:
    code_, out, err = result
    assert code_ != 0 and out == "", (out, err)
    assert err.count("\n") == 1 and words in err, err
    return err


def _create(cli, password_file, username, *roles, operator="cli", distributor=None):
    argv = ["staff", "create", "--username", username, "--password-file", password_file, "--operator", operator,
            "--json"]
    for role in roles:
        argv += ["--role", role]
    if distributor:
        argv += ["--distributor", distributor]
    return _ok(cli(*argv))


def _login(cli, password_file, who, at, steps=0):
    return _ok(cli("login", "--username", who["username"], "--password-file", password_file,
                   "--totp", code(who["totp_secret"], at, steps), "--json"))


def test_without_staff_the_cli_works_as_before_and_says_so_once(cli):
    for argv in (("init",), ("keys", "create")):
        _ok(cli(*argv))
    code_, out, err = cli("batch", "approve", "B01-000099", "--operator", "bob")
    assert code_ == 1 and err.count("\n") == 1  # a refusal stays one line: the note waits for a success
    code_, out, err = cli("batch", "create", "--face-value", "10.00", "--count", "2", "--expires", FAR_EXPIRY,
                          "--operator", "alice", "--json")
    assert code_ == 0 and "no staff account exists yet" in err and err.count("no staff account") == 1
    batch = json.loads(out)["batch_id"]
    code_, out, err = cli("batch", "approve", batch, "--operator", "bob", "--json")
    assert code_ == 0 and json.loads(out)["approved_by"] == "bob"
    assert "no staff account" not in err  # once per installation
    code_, out, err = cli("batch", "void", batch, "--reason", "lost")
    assert code_ == 0 and "no staff account" not in err


def test_staff_create_json_and_password_rules(cli, password_file, tmp_path):
    _ok(cli("init"))
    admin = _create(cli, password_file, "root.admin", "admin")
    assert admin["username"] == "root.admin" and admin["roles"] == ["admin"]
    assert len(admin["totp_secret"]) == 32 and admin["otpauth_uri"].startswith("otpauth://totp/")
    weak = tmp_path / "weak"
    for bad, words in (("short pass", "at least 12 characters"),
                       ("1qaz2wsx3edc", "list of common passwords"),  # 12 characters, but on the list
                       ("1QAZ2WSX3EDC", "list of common passwords")):
        weak.write_text(bad, "utf-8")
        # the first account exists: creating another needs a logged-in admin, checked after the password rules
        _refused(cli("staff", "create", "--username", "eve", "--role", "finance", "--password-file", str(weak)),
                 words)
    listed = _ok(cli("staff", "list", "--json"))
    assert [s["username"] for s in listed["staff"]] == ["root.admin"]
    assert "totp_secret" not in json.dumps(listed) and admin["totp_secret"] not in json.dumps(listed)


def test_maker_checker_binds_to_logged_in_people(cli, password_file, clock, now, tmp_path):
    for argv in (("init",), ("keys", "create")):
        _ok(cli(*argv))
    admin = _create(cli, password_file, "root", "admin")
    # a typed name alone is refused once a staff account exists
    _refused(cli("staff", "create", "--username", "alice", "--role", "issuer_operator", "--password-file",
                 password_file, "--operator", "root"), "alone is refused")
    _login(cli, password_file, admin, now)
    token_file = context.staff_session_file()
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
    alice = _create(cli, password_file, "alice", "issuer_operator", operator="root")
    bob = _create(cli, password_file, "bob", "approver", operator="root")
    carol = _create(cli, password_file, "carol", "approver", operator="root")

    _refused(cli("batch", "create", "--face-value", "10.00", "--count", "2", "--expires", FAR_EXPIRY,
                 "--operator", "alice"), "is not the staff member logged in here (root)")
    _login(cli, password_file, alice, now)
    batch = _ok(cli("batch", "create", "--face-value", "10.00", "--count", "2", "--expires", FAR_EXPIRY,
                    "--operator", "alice", "--json"))["batch_id"]
    _refused(cli("batch", "approve", batch, "--operator", "alice", "--totp", code(alice["totp_secret"], now, 1)),
             "does not hold the approver role")
    _refused(cli("batch", "approve", batch, "--operator", "bob", "--totp", code(bob["totp_secret"], now)),
             "is not the staff member logged in here (alice)")

    clock.now = now + dt.timedelta(minutes=2)
    _login(cli, password_file, bob, clock.now)
    # the code used to log in is spent: replay refused
    _refused(cli("batch", "approve", batch, "--operator", "bob", "--totp", code(bob["totp_secret"], clock.now)),
             "wrong or was already used")
    approved = _ok(cli("batch", "approve", batch, "--operator", "bob", "--totp",
                       code(bob["totp_secret"], clock.now, 1), "--json"))
    assert approved["approved_by"] == "bob" and approved["created_by"] == "alice"
    with context.sessions().begin() as session:
        event = session.execute(select(AuditEvent).where(AuditEvent.action == "cli.batch_approve")).scalar_one()
    details = json.loads(event.details)
    assert event.actor == "bob" and details["session_id"].startswith("s_") and isinstance(details["staff_id"], int)

    # 2FA reset is itself maker-checker: root (admin) requests, carol (approver) approves
    clock.now = now + dt.timedelta(minutes=4)
    _login(cli, password_file, admin, clock.now)
    _ok(cli("staff", "reset-2fa", "bob", "--operator", "root", "--json"))
    _refused(cli("staff", "reset-2fa", "bob", "--operator", "root", "--approve", "--totp",
                 code(admin["totp_secret"], clock.now, 1)), "does not hold the approver role")
    _login(cli, password_file, carol, clock.now)
    reset = _ok(cli("staff", "reset-2fa", "bob", "--operator", "carol", "--approve", "--totp",
                    code(carol["totp_secret"], clock.now, 1), "--json"))
    assert reset["totp_secret"] != bob["totp_secret"]

    # the session expires after 15 idle minutes
    clock.now += dt.timedelta(minutes=16)
    _refused(cli("batch", "void", batch, "--reason", "lost", "--operator", "carol", "--totp",
                 code(carol["totp_secret"], clock.now)), "alone is refused")

    # a disabled account's session ends at once
    _login(cli, password_file, carol, clock.now)
    admin_session = tmp_path / "carol-session"
    admin_session.write_text(token_file.read_text())
    _login(cli, password_file, admin, clock.now, steps=-1)
    _ok(cli("staff", "disable", "carol", "--reason", "left", "--operator", "root"))
    token_file.write_text(admin_session.read_text())
    _refused(cli("batch", "void", batch, "--reason", "lost", "--operator", "carol", "--totp",
                 code(carol["totp_secret"], clock.now, 1)), "alone is refused")
    _refused(cli("login", "--username", "carol", "--password-file", password_file, "--totp",
                 code(carol["totp_secret"], clock.now, 1)), "wrong username, password or code")


def test_staff_contact_records_phone_and_address_audited_by_a_logged_in_admin(cli, password_file, clock):
    from vouchers.storage.staff_models import StaffAccount

    _ok(cli("init"))
    admin = _create(cli, password_file, "root", "admin")
    _login(cli, password_file, admin, clock.now)
    _create(cli, password_file, "clerk", "customer_service", operator="root")
    shown = _ok(cli("staff", "contact", "clerk", "--phone", "138 0000 1234", "--address", "8  Riverside Road",
                    "--operator", "root", "--json"))
    assert shown["username"] == "clerk" and "13800001234" not in json.dumps(shown)  # not echoed
    _refused(cli("staff", "contact", "clerk", "--phone", "12", "--operator", "root"), "phone")
    _refused(cli("staff", "contact", "nobody", "--phone", "13800001234", "--operator", "root"), "nobody")
    _ok(cli("logout"))
    _refused(cli("staff", "contact", "clerk", "--phone", "138 0000 1234", "--operator", "root"), "log in")
    with context.sessions().begin() as s:
        row = s.execute(select(StaffAccount).where(StaffAccount.username == "clerk")).scalar_one()
        assert (row.phone, row.address) == ("13800001234", "8 riverside road")
        audited = s.execute(select(AuditEvent.actor).where(AuditEvent.action == "staff.contact")).scalars().all()
    assert audited == ["root"]
