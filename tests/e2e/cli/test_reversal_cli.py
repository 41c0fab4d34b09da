"""`voucherctl payments reverse` once staff exist: a finance user proposes, a different approver confirms."""
from __future__ import annotations

import datetime as dt

from tests.e2e.cli.test_staff_cli import _create, _login, _ok, _refused, cli, clock, password_file  # noqa: F401
from tests.staff_helpers import code


def test_a_reversal_in_the_cli_takes_two_people(cli, password_file, clock, now):  # noqa: F811
    for argv in (("init",), ("keys", "create")):
        _ok(cli(*argv))
    admin = _create(cli, password_file, "root", "admin")
    _login(cli, password_file, admin, now)
    fin = _create(cli, password_file, "fin", "finance", "approver", operator="root")
    bob = _create(cli, password_file, "bob", "approver", operator="root")
    _ok(cli("accounts", "create", "--account-no", "0101", "--name", "张三", "--json"))
    paid = _ok(cli("payments", "post", "--channel", "counter_cash", "--account-no", "0101", "--amount", "50.00",
                   "--ref", "C-1", "--json"))

    _login(cli, password_file, fin, now)
    proposed = _ok(cli("payments", "reverse", "--channel", "counter_cash", "--ref", "C-1", "--reason", "paid twice",
                       "--operator", "fin", "--json"))
    assert (proposed["status"], proposed["requested_by"], proposed["payment_id"]) == \
        ("pending", "fin", paid["payment_id"])
    request = str(proposed["request_id"])
    # the proposer holds the approver role too: still not the second person
    _refused(cli("payments", "reverse", "--confirm", request, "--operator", "fin", "--totp",
                 code(fin["totp_secret"], now, 1)), "a second person must confirm")
    assert _ok(cli("accounts", "show", "0101", "--json"))["balance"] == "50.00"

    clock.now = now + dt.timedelta(minutes=2)
    _login(cli, password_file, bob, clock.now)
    _refused(cli("payments", "reverse", "--confirm", request, "--operator", "bob", "--totp",
                 code(bob["totp_secret"], clock.now)), "wrong or was already used")  # the login's code
    done = _ok(cli("payments", "reverse", "--confirm", request, "--operator", "bob", "--totp",
                   code(bob["totp_secret"], clock.now, 1), "--json"))
    assert (done["status"], done["decided_by"], done["requested_by"]) == ("approved", "bob", "fin")
    assert done["reversal_id"] and _ok(cli("accounts", "show", "0101", "--json"))["balance"] == "0.00"
    _refused(cli("payments", "reverse", "--confirm", request, "--operator", "bob", "--totp",
                 code(bob["totp_secret"], clock.now, -1)), "already approved")
    # a typed name alone is refused, and a request number goes alone
    _refused(cli("payments", "reverse", "--confirm", request, "--operator", "carol"), "is not the staff member")
    _refused(cli("payments", "reverse", "1", "--confirm", request, "--operator", "bob"), "request number alone")
    _refused(cli("payments", "reverse", "1", "--operator", "bob"), "--reason is required")
