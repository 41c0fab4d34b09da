"""Operators, reasons and names cannot forge lines of ``audit list`` or of a log (in process, both databases)."""
from __future__ import annotations

import json

import pytest

from vouchers.storage.db import make_engine, session_factory
from vouchers.storage.models import AuditEvent
from tests.conftest import cheap_sealing
from tests.inprocess_cli import in_process_cli
from voucherctl import context
from tests.e2e.cli.conftest import FAR_EXPIRY

FORGED = "eve\n     9 2026-11-26T02:00:00+00:00 admin batch.approve"


@pytest.fixture
def cli(db_url, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VOUCHER_KEY_PASSPHRASE", "free text passphrase")
    monkeypatch.setenv("VOUCHER_WEB_PASSPHRASE", "free text web secret")
    monkeypatch.delenv("VOUCHER_ACTOR", raising=False)
    with cheap_sealing():
        yield from in_process_cli(db_url, tmp_path / "home", monkeypatch, capsys)


@pytest.fixture
def batch_id(cli) -> str:
    for argv in (("init",), ("keys", "create")):
        assert cli(*argv)[0] == 0
    code, out, err = cli("batch", "create", "--face-value", "10.00", "--count", "2", "--expires", FAR_EXPIRY,
                         "--operator", "alice", "--json")
    assert code == 0, err
    return json.loads(out)["batch_id"]


def _cases(batch: str, file: str) -> list[tuple[str, ...]]:
    return [
        ("batch", "create", "--face-value", "10.00", "--count", "2", "--expires", FAR_EXPIRY, "--operator", FORGED),
        ("batch", "approve", batch, "--operator", FORGED),
        ("batch", "void", batch, "--reason", "x\ny"),
        ("batch", "void", batch, "--reason", "lost", "--operator", FORGED),
        ("batch", "ship", batch, "--operator", FORGED),
        ("batch", "close", batch, "--operator", FORGED),
        ("batch", "export", batch, "--recipient", "age1x", "--out", file + ".age", "--operator", FORGED),
        ("batch", "print", batch, "--out", file + ".pdf", "--operator", FORGED),
        ("batch", "print", batch, "--out", file + ".pdf", "--reprint", "--reason", FORGED),
        ("batch", "activate", batch, "--distributor", "D1", "--operator", FORGED),
        ("ledger", "commission", "--distributor", "D1", "--rate", "2%", "--name", FORGED, "--operator", "bob"),
        ("ledger", "commission", "--distributor", "D1", "--rate", "2%", "--operator", FORGED),
        ("ledger", "reverse", "1", "--reason", FORGED, "--operator", "bob"),
        ("ledger", "remit", "--distributor", "D1", "--amount", "1.00", "--ref", "R1", "--operator", FORGED),
        ("clients", "create", "--name", FORGED, "--role", "admin"),
        ("clients", "create", "--name", "till", "--role", "admin", "--operator", FORGED),
        ("clients", "revoke", "C1", "--operator", FORGED),
        ("accounts", "create", "--account-no", "3100000001", "--name", FORGED),
        ("vouchers", "expire", "--operator", FORGED),
        ("payments", "import", "--channel", "alipay", "--operator", FORGED, file),
        ("reconcile", "--channel", "alipay", "--operator", FORGED, file),
        ("sts", "meters", "deactivate", "600727000000000009", "--reason", FORGED),
    ]


def _events(cli) -> list[dict]:
    code, out, err = cli("audit", "list", "--json")
    assert code == 0, err
    return json.loads(out)["events"]


def test_control_characters_are_refused_by_every_command_and_nothing_is_recorded(cli, batch_id, tmp_path):
    file = tmp_path / "settlement.csv"
    file.write_text("external_ref,account_no,amount,currency,paid_at\n", "utf-8")
    before = _events(cli)
    for argv in _cases(batch_id, str(file)):
        code, out, err = cli(*argv)
        assert code == 2 and out == "", argv
        assert err.count("\n") == 1 and "must not contain control characters (found U+000A)" in err, (argv, err)
    assert _events(cli) == before
    code, out, _ = cli("audit", "list")
    assert code == 0 and len(out.splitlines()) == len(before)


@pytest.mark.parametrize("option, value, message", [
    ("--operator", "x" * 101, "must be at most 100 characters"),
    ("--operator", "   ", "must not be blank"),
    ("--operator", "bidi\u202eevil", "must not contain control characters (found U+202E)"),
])
def test_overlong_blank_and_format_characters_are_refused(cli, option, value, message):
    code, _, err = cli("batch", "create", "--face-value", "10.00", "--count", "2", "--expires", FAR_EXPIRY,
                       option, value)
    assert code == 2 and err.count("\n") == 1 and f"Invalid value for '{option}': {message}" in err


def test_names_follow_their_columns(cli):
    assert cli("init")[0] == 0
    long_name = "名" * 150  # fits an account holder (200), not an API client (100)
    code, out, err = cli("accounts", "create", "--account-no", "3100000001", "--name", f"  {long_name} ", "--json")
    assert code == 0, err
    assert json.loads(out)["name"] == long_name
    code, _, err = cli("clients", "create", "--name", long_name, "--role", "admin")
    assert code == 2 and "'--name': must be at most 100 characters" in err


def test_an_actor_from_the_environment_is_checked_where_the_audit_event_is_written(cli, monkeypatch):
    assert cli("init")[0] == 0
    assert cli("accounts", "create", "--account-no", "P1", "--name", "Han Meimei")[0] == 0
    monkeypatch.setenv("VOUCHER_ACTOR", FORGED)
    context.settings.cache_clear()  # a process reads its settings once: the next run plays a new process
    code, out, err = cli("billing", "assign", "P1", "--tariff", "fj-residential", "--mode", "prepaid",
                         "--area", "湖里区", "--meter", "MP1")
    assert code == 1 and out == ""
    assert err == "voucherctl: error: actor must not contain control characters (found U+000A)\n"
    assert _events(cli) == []


def test_audit_list_shows_an_event_written_before_the_check_on_one_line(cli, db_url, now):
    assert cli("init")[0] == 0
    engine = make_engine(db_url)
    with session_factory(engine).begin() as session:
        session.add(AuditEvent(at=now, actor=FORGED, action="batch.void", subject_type="batch",
                               subject_id="B01-000001", reason="x\ny", prev_hash="0" * 64, hash="f" * 64))
    engine.dispose()
    code, out, err = cli("audit", "list")
    assert code == 0, err
    assert out.count("\n") == 1 and "eve\\n     9" in out and "x\\ny" in out
