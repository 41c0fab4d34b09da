"""Secret hygiene after a full workflow through the CLI and a real server (issue, export, print, activate,
redeem, pay, reconcile): no secret code (grouped or not), token, API key or private key material appears in
the server log, the CLI's stderr/stdout (except where a command's job is to print it: `clients create`),
the HTTP responses, exception texts, or the database (pg_dump / the SQLite file)."""
from __future__ import annotations

import json
import os

import pytest
import requests

from issuer.cardstore import card_file_path, read_cards
from issuer.signing_keys import signing_key_raw
from vouchers.keystore.store import KeyStore

from tests.e2e.cli.conftest import FAR_EXPIRY

from .conftest import (
    VOUCHERCTL,  # noqa: F401
    post,
    voucherctl,
)
from .secrets_scan import byte_forms, code_forms, database_bytes, leaks

PASS = "hygiene test passphrase"
WEB_PASS = "hygiene test web secret"


def test_no_secret_leaks_after_a_full_workflow(hygiene_db_url, tmp_path, fleet):
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOUCHER_")}
    env.update(VOUCHER_HOME=str(home), VOUCHER_KEY_PASSPHRASE=PASS, VOUCHER_WEB_PASSPHRASE=WEB_PASS,
               VOUCHER_DATABASE_URL=hygiene_db_url,
               VOUCHER_COOKIE_SECURE="0", VOUCHER_MAX_BATCH_SIZE="100")
    cli_out: list[str] = []

    def run(*args: str, prints_secret: bool = False) -> str:
        r = voucherctl(env, *args)
        assert r.returncode == 0, f"{args}: {r.stderr}"
        cli_out.append(r.stderr)
        if not prints_secret:
            cli_out.append(r.stdout)
        return r.stdout

    run("init")
    run("keys", "create")
    batch = json.loads(run("batch", "create", "--face-value", "100.00", "--count", "6", "--expires", FAR_EXPIRY,
                           "--operator", "alice", "--json"))["batch_id"]
    run("batch", "approve", batch, "--operator", "bob")
    store = KeyStore(home)
    run("batch", "export", batch, "--recipient", store.cardstore_recipient(), "--out", str(tmp_path / "print.age"))
    run("batch", "print", batch, "--out", str(tmp_path / "cards.pdf"), "--workers", "1")
    run("batch", "activate", batch, "--distributor", "D001")
    run("accounts", "create", "--account-no", "3100000009", "--name", "王五", "--arrears", "12.00")
    keys = {}
    for name, extra in (("terminal", ()), ("channel", ("--channel", "alipay")), ("admin", ())):
        keys[name] = json.loads(run("clients", "create", "--name", name, "--role", name, *extra, "--json",
                                    prints_secret=True))["api_key"]
    cards = list(read_cards(card_file_path(home, batch), store.cardstore_identity(PASS)))

    web_env = {k: v for k, v in env.items() if k != "VOUCHER_KEY_PASSPHRASE"}  # the web gets its secret only
    # JSON logs with the access log too: every line the server writes is scanned, request ids included
    server = fleet.start(type("W", (), {"env": lambda self, **e: {**web_env, **e}})(), workers=2, threads=2,
                         extra_args=("--access-log",), VOUCHER_LOG_FORMAT="json")
    answers: list[bytes] = []
    with requests.Session() as http:
        def call(path, who, idem, body):
            a = post(http, server.url + path, keys[who], idem, body)
            answers.append(a.body + json.dumps(a.headers).encode())
            return a

        assert call("/api/v1/redemptions", "terminal", "h1", {"code": cards[0].code, "account_no": "3100000009"}).status == 201
        assert call("/api/v1/redemptions", "terminal", "h2", {"code": cards[1].token, "account_no": "3100000009"}).status == 201
        # refusals and errors must not echo what was sent
        d = cards[2].code.replace(" ", "")
        for idem, body in (("e1", {"code": cards[0].code, "account_no": "3100000009"}),  # used
                           ("e2", {"code": cards[2].code, "account_no": "3999999999"}),  # unknown account
                           ("e3", {"code": d + "1", "account_no": "3100000009"}),  # typo
                           ("e4", {"code": cards[2].token[:-3], "account_no": "3100000009"}),  # broken token
                           ("e5", {"code": int(d), "account_no": "3100000009"}),  # wrong type
                           ("e6", {"code": cards[2].code, "account_no": "3100000009", "x": "y" * 20000})):  # too big
            a = call("/api/v1/redemptions", "terminal", idem, body)
            assert 400 <= a.status < 500, a.body
        r = http.post(server.url + "/api/v1/redemptions", data=b'{"code": "' + d.encode() + b'", }',
                      headers={"Authorization": f"Bearer {keys['terminal']}", "Idempotency-Key": "e7",
                               "Content-Type": "application/json"}, timeout=30)  # malformed JSON
        answers.append(r.content)
        r = http.post(server.url + "/api/v1/redemptions", json={"code": cards[2].code, "account_no": "3100000009"},
                      headers={"Authorization": f"Bearer {keys['terminal']}x", "Idempotency-Key": "e8"}, timeout=30)
        assert r.status_code == 401
        answers.append(r.content + json.dumps(dict(r.headers)).encode())
        pay = call("/api/v1/payments", "channel", "p1", {"account_no": "3100000009", "amount": "20.00",
                                                         "external_ref": "ALI-1"})
        assert pay.status == 201
        paid_at = json.loads(pay.body)["paid_at"]
        for path in ("/api/v1/accounts/3100000009", f"/api/v1/vouchers/{cards[0].serial}", "/api/v1/keys",
                     "/metrics", "/healthz", "/redeem"):
            r = http.get(server.url + path, headers={"Authorization": f"Bearer {keys['admin']}"}, timeout=30)
            answers.append(r.content + json.dumps(dict(r.headers)).encode())
    settlement = tmp_path / "alipay.csv"
    settlement.write_text(f"external_ref,account_no,amount,currency,paid_at\nALI-1,3100000009,20.00,CNY,{paid_at}\n")
    run("reconcile", "--channel", "alipay", str(settlement), "--json")
    run("ledger", "verify")
    run("audit", "verify")
    server.stop()

    secrets: dict[str, set[bytes]] = {}
    for card in cards:
        secrets[f"code of {card.serial}"] = code_forms(card.code)
        secrets[f"token of {card.serial}"] = {card.token.encode(), card.token.removeprefix("EV1:").encode()}
    for name, key in keys.items():
        secrets[f"API key of {name}"] = {key.encode(), key.split(".", 1)[1].encode()}
    for record in store.records():
        secrets[f"private key {record.key_id}"] = byte_forms(signing_key_raw(store, record.key_id, PASS))
    secrets["pepper"] = byte_forms(store.pepper(WEB_PASS))
    secrets["passphrases"] = {PASS.encode(), WEB_PASS.encode()}
    secrets["card-store identity"] = {store.cardstore_identity(PASS).encode()}
    haystacks = {"server log": fleet.logs().encode(), "CLI output": "\n".join(cli_out).encode(),
                 "HTTP responses": b"\n".join(answers), "database": database_bytes(hygiene_db_url)}
    found = leaks(haystacks, secrets)
    assert not found, found
    logged = [json.loads(line) for line in fleet.logs().splitlines() if line.startswith("{")]
    assert sum(line.get("route") == "/api/v1/redemptions" for line in logged) >= 8  # the scan saw the request lines
    # the scan is live: the sealed card file is the only copy, and a plaintext line would be found
    assert leaks({"probe": cards[3].csv_line().encode()}, secrets)


@pytest.mark.postgres
def test_no_secret_in_a_pg_dump_after_a_small_workflow(pg_world, tmp_path):
    """The PostgreSQL scan of the full workflow above, fast enough for every CI run (that one is --soak).

    The same secrets and the same search (:func:`.secrets_scan.leaks`) over ``pg_dump --data-only``, after a
    small workflow in process: a batch issued, sold and activated (the world), redemptions by code and by
    token, refusals, a channel payment.
    """
    from tests.integration.redeem_api.world import ACCOUNT_ARREARS, ACCOUNT_CLEAN, PASSPHRASE, WEB_PASSPHRASE, auth

    world = pg_world
    app = world.app()
    client = app.test_client()
    cards = world.cards
    answers = [
        client.post("/api/v1/redemptions", json={"code": cards[0].code, "account_no": ACCOUNT_ARREARS},
                    headers=auth(world.keys["terminal"], "h1")),
        client.post("/api/v1/redemptions", json={"code": cards[1].token, "account_no": ACCOUNT_CLEAN},
                    headers=auth(world.keys["terminal"], "h2")),
        client.post("/api/v1/redemptions", json={"code": cards[0].code, "account_no": ACCOUNT_CLEAN},
                    headers=auth(world.keys["terminal"], "e1")),  # used
        client.post("/api/v1/redemptions", json={"code": cards[2].code, "account_no": "3999999999"},
                    headers=auth(world.keys["terminal"], "e2")),  # unknown account
        client.post("/api/v1/redemptions", json={"code": cards[-1].token, "account_no": ACCOUNT_CLEAN},
                    headers=auth(world.keys["terminal"], "e3")),  # inactive card, by token
        client.post("/api/v1/payments", json={"account_no": ACCOUNT_CLEAN, "amount": "20.00",
                                               "external_ref": "ALI-1"}, headers=auth(world.keys["channel"], "p1")),
    ]
    assert [a.status_code for a in answers] == [201, 201, 422, 404, 422, 201], [a.get_json() for a in answers]
    from redeem_api.state import EXTENSION

    app.extensions[EXTENSION].engine.dispose()

    store = world.store
    secrets: dict[str, set[bytes]] = {}
    for card in cards:
        secrets[f"code of {card.serial}"] = code_forms(card.code)
        secrets[f"token of {card.serial}"] = {card.token.encode(), card.token.removeprefix("EV1:").encode()}
    for name, key in world.keys.items():
        secrets[f"API key of {name}"] = {key.encode(), key.split(".", 1)[1].encode()}
    for record in store.records():
        secrets[f"private key {record.key_id}"] = byte_forms(signing_key_raw(store, record.key_id, PASSPHRASE))
    secrets["pepper"] = byte_forms(store.pepper(WEB_PASSPHRASE))
    secrets["card-store identity"] = {store.cardstore_identity(PASSPHRASE).encode()}
    dump = database_bytes(world.db_url)
    # the dump is of this database and holds the rows a thief would have
    assert b"COPY public.vouchers" in dump and b"COPY public.redemptions" in dump
    assert all(card.serial.encode() in dump for card in cards)
    found = leaks({"pg_dump": dump}, secrets)
    assert not found, found
    # the scan is live: a plaintext card line in the dump would be found
    assert leaks({"probe": dump + cards[3].csv_line().encode()}, secrets)
