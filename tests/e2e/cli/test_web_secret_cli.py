"""Keys split by trust through the real CLI, on SQLite and PostgreSQL: `serve` redeems with the web secret
alone, the issuer's commands refuse it in one line, and an old key store is migrated by
`voucherctl keys split-web-secret`."""
from __future__ import annotations

import json
import tarfile
from pathlib import Path

import requests

from issuer.cardstore import card_file_path, read_cards
from vouchers.keystore.store import KeyStore
from tests.e2e.redeem_api.conftest import Server
from vouchers.money import format_amount

ISSUER_VAR, WEB_VAR = "VOUCHER_KEY_PASSPHRASE", "VOUCHER_WEB_PASSPHRASE"
VECTOR = Path(__file__).parents[2] / "vectors" / "keystore" / "legacy-one-passphrase.tar.gz"
LEGACY_PASSPHRASE = "legacy store passphrase"  # tests/vectors/keystore/README.md


def web_only(env: dict[str, str]) -> dict[str, str]:
    """The web process's environment: everything but the issuer passphrase."""
    return {k: v for k, v in env.items() if k != ISSUER_VAR}


def serve(env: dict[str, str], tmp_path: Path) -> Server:
    return Server(env, workers=1, threads=2, log_path=tmp_path / "server.log").start()


def test_serve_redeems_a_real_card_without_the_issuer_passphrase(cli, tmp_path):
    cli("init", check=True)
    cli("keys", "create", check=True)
    batch = cli("batch", "create", "--face-value", "50.00", "--count", "2", "--expires", "2099-12-31",
                "--operator", "alice", "--json", check=True).json()["batch_id"]
    cli("batch", "approve", batch, "--operator", "bob", check=True)
    cli("batch", "activate", batch, "--distributor", "D001", check=True)
    cli("accounts", "create", "--account-no", "3100000007", "--name", "Zhang San", check=True)
    key = cli("clients", "create", "--name", "till", "--role", "terminal", "--json", check=True).json()["api_key"]
    card = next(read_cards(card_file_path(cli.home, batch), KeyStore(cli.home).cardstore_identity(cli.env[ISSUER_VAR])))

    server = serve(web_only(cli.env), tmp_path)
    try:
        r = requests.post(server.url + "/api/v1/redemptions", json={"code": card.code, "account_no": "3100000007"},
                          headers={"Authorization": f"Bearer {key}", "Idempotency-Key": "web-only-1"}, timeout=30)
    finally:
        server.stop()
    assert r.status_code == 201, r.text
    assert r.json()["balance"] == format_amount(5000)
    assert cli.env[ISSUER_VAR] not in server.tail() and cli.env[WEB_VAR] not in server.tail()


def test_issuer_commands_with_only_the_web_secret_fail_in_one_line(cli, db_url):
    cli("init", check=True)
    cli("keys", "create", check=True)
    env = web_only(cli.env)
    for args in (("keys", "create"), ("keys", "rotate"), ("keys", "split-web-secret"),
                 ("batch", "create", "--face-value", "1.00", "--count", "1", "--expires", "2099-12-31",
                  "--operator", "a")):
        result = cli(*args, env={ISSUER_VAR: ""})
        assert result.code == 1 and result.out == "", (args, result)
        assert result.err.count("\n") == 1 and result.err.startswith(f"voucherctl: error: {ISSUER_VAR} is not set"), \
            (args, result.err)
        assert WEB_VAR in result.err and cli.env[WEB_VAR] not in result.err
    assert len(cli("keys", "list", "--json", env=env).json()["keys"]) == 1  # nothing was created or rotated


def test_a_new_home_needs_the_web_secret_too(cli):
    refused = cli("init", env={WEB_VAR: ""})
    assert refused.code == 1 and refused.err.count("\n") == 1 and f"{WEB_VAR} is not set" in refused.err
    same = cli("init", env={WEB_VAR: cli.env[ISSUER_VAR]})
    assert same.code == 1 and "must differ" in same.err
    short = cli("init", env={WEB_VAR: "short"})
    assert short.code == 1 and f"{WEB_VAR} is too short" in short.err
    assert not (cli.home / "keys").exists()


def test_an_old_key_store_is_refused_by_serve_until_split_web_secret(cli, tmp_path):
    cli.home.mkdir(mode=0o700)
    with tarfile.open(VECTOR) as archive:
        archive.extractall(cli.home, filter="data")
    env = {**cli.env, ISSUER_VAR: LEGACY_PASSPHRASE}
    init = cli("init", "--json", env=env)
    assert init.code == 0 and init.json()["key_store_created"] is False
    assert "keys split-web-secret" in init.err  # the upgrade tells the operator what to run

    refused = cli("serve", "--port", "1", env=web_only(env))
    assert refused.code == 1 and refused.err.count("\n") == 1, refused.err
    assert "run `voucherctl keys split-web-secret`" in refused.err

    done = cli("keys", "split-web-secret", "--json", env=env, check=True).json()
    assert done == {"already_split": False, "resealed": ["vending/sgc123457-krn1-kt2.sealed", "pepper.sealed"]}
    again = cli("keys", "split-web-secret", "--json", env=env, check=True).json()
    assert again == {"already_split": True, "resealed": []}
    wrong = cli("keys", "split-web-secret", env={**env, WEB_VAR: "not the web secret"})
    assert wrong.code == 1 and wrong.err == f"voucherctl: error: wrong {WEB_VAR}: cannot unlock the key store\n"

    # the migrated store: the web starts with its secret alone, the issuer still signs with the old passphrase
    server = serve(web_only(env), tmp_path)
    try:
        assert requests.get(server.url + "/healthz", timeout=10).status_code == 200  # (start() waited for it)
    finally:
        server.stop()
    assert cli("keys", "rotate", "--json", env=env, check=True).json()["status"] == "active"
    created = cli("batch", "create", "--face-value", "1.00", "--count", "1", "--expires", "2099-12-31",
                  "--operator", "a", "--json", env=env, check=True).json()
    assert created["count"] == 1


def test_demo_mode_generates_both_secrets(cli):
    demo = {ISSUER_VAR: "", WEB_VAR: "", "VOUCHER_DEMO": "1"}
    assert cli("init", "--json", env=demo, check=True).json()["demo"] is True
    cli("keys", "create", env=demo, check=True)
    cli("batch", "create", "--face-value", "1.00", "--count", "1", "--expires", "2099-12-31", "--operator", "a",
        env=demo, check=True)
    issuer = (cli.home / "DEMO-ONLY-passphrase.txt").read_text().strip()
    web = (cli.home / "DEMO-ONLY-web-passphrase.txt").read_text().strip()
    assert issuer and web and issuer != web
    store = KeyStore(cli.home)
    assert store.is_split() and len(store.pepper(web)) == 32
    assert json.loads((cli.home / "keys" / "keyring.json").read_text())["keys"]
