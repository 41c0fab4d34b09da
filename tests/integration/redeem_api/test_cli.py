"""``voucherctl clients`` and ``fraud``, in process."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from voucherctl import context
from voucherctl.main import cli as main_cli
from voucherctl.main import main


@pytest.fixture
def run(world, monkeypatch):
    for key, value in world.env().items():
        monkeypatch.setenv(key, value)
    context.settings.cache_clear()
    context.engine.cache_clear()

    def invoke(*args: str):
        result = CliRunner().invoke(main_cli, list(args), catch_exceptions=False)
        return result

    yield invoke
    context.engine().dispose()
    context.settings.cache_clear()
    context.engine.cache_clear()


def test_create_prints_the_key_once_and_it_works(run, app, world):
    result = run("clients", "create", "--name", "Till 7", "--role", "terminal", "--json")
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert created["role"] == "terminal" and created["client_id"].startswith("c_")
    key = created["api_key"]
    assert key.startswith(created["client_id"] + ".")
    assert app.test_client().get("/api/v1/keys", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    listed = json.loads(run("clients", "list", "--json").output)["clients"]
    mine = [c for c in listed if c["client_id"] == created["client_id"]]
    assert mine and "api_key" not in mine[0] and key not in run("clients", "list", "--json").output
    revoked = run("clients", "revoke", created["client_id"], "--json")
    assert revoked.exit_code == 0 and json.loads(revoked.output)["revoked"] is True
    assert app.test_client().get("/api/v1/keys", headers={"Authorization": f"Bearer {key}"}).status_code == 401


def test_channel_and_distributor_clients(run):
    channel = json.loads(run("clients", "create", "--name", "Alipay GW", "--role", "channel", "--channel", "alipay",
                             "--json").output)
    assert channel["channel"] == "alipay"
    dist = json.loads(run("clients", "create", "--name", "Shop 9", "--role", "distributor", "--distributor", "S9",
                          "--json").output)
    assert dist["distributor_id"] == "S9"


@pytest.mark.parametrize("args", [
    ["--role", "channel"],  # channel without --channel
    ["--role", "channel", "--channel", "bitcoin"],
    ["--role", "channel", "--channel", "voucher"],
    ["--role", "distributor"],
    ["--role", "terminal", "--channel", "alipay"],
    ["--role", "root"],
])
def test_bad_client_definitions_are_one_line_errors(run, capsys, args):
    code = main(["clients", "create", "--name", "x", *args])
    err = capsys.readouterr().err
    assert code != 0 and err.startswith("voucherctl: error:") and err.count("\n") == 1


def test_revoke_unknown_client(run, capsys):
    assert main(["clients", "revoke", "c_0000000000000000"]) == 1
    assert "no API client" in capsys.readouterr().err


def test_headend_client(run, app, world, capsys):
    created = json.loads(run("clients", "create", "--name", "Head-end A", "--role", "headend", "--json").output)
    assert created["role"] == "headend" and created["channel"] is None and created["distributor_id"] is None
    headers = {"Authorization": f"Bearer {created['api_key']}"}
    assert app.test_client().get("/api/v1/orders", headers=headers).status_code == 200
    assert app.test_client().get("/api/v1/accounts/3100000001", headers=headers).status_code == 403
    assert main(["clients", "create", "--name", "H", "--role", "headend", "--channel", "alipay"]) != 0
    assert "--channel applies only to the channel role" in capsys.readouterr().err
