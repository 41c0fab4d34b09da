"""Key compromise drill over HTTP: rotate, revoke the old key; its scanned tokens are refused with a stable
code while the new key's tokens redeem (the running web process picks up the new ring); the private keys
appear nowhere - not in the server log, the HTTP responses or a dump of the database."""
from __future__ import annotations

import json
import time

import pytest
import requests

from vouchers.storage.api_models import FraudAlert
from issuer.signing_keys import signing_key_raw
from tests.integration.redeem_api.world import ACCOUNT_CLEAN, PASSPHRASE, WEB_PASSPHRASE

from .conftest import post, server_env, voucherctl
from .secrets_scan import byte_forms, code_forms, database_bytes, leaks

REDEEM = "/api/v1/redemptions"


@pytest.mark.postgres
def test_revoked_key_tokens_fail_with_invalid_token_and_new_key_tokens_redeem(pg_world, fleet):
    world = pg_world
    old_key = world.store.records()[-1].key_id
    server = fleet.start(world, workers=2, threads=2, extra_args=("--access-log",))
    answers: list[bytes] = []
    http = requests.Session()

    def redeem(token: str, idem: str):
        a = post(http, server.url + REDEEM, world.keys["terminal"], idem, {"code": token, "account_no": ACCOUNT_CLEAN})
        answers.append(a.body + json.dumps(a.headers).encode())
        return a

    assert redeem(world.cards[0].token, "before").status == 201  # the old key works until revoked
    env = {**server_env(world), "VOUCHER_KEY_PASSPHRASE": PASSPHRASE}  # the issuer's CLI; the server has not got it
    rotated = voucherctl(env, "keys", "rotate", "--json")
    assert rotated.returncode == 0, rotated.stderr
    new_key = json.loads(rotated.stdout)["key_id"]
    assert new_key != old_key
    _, new_cards = world.new_batch(4, activate_count=4)  # signed with the rotated-in key
    revoked = voucherctl(env, "keys", "revoke", old_key, "--json")
    assert revoked.returncode == 0, revoked.stderr
    # every worker re-reads the ring within its refresh interval (5 s): wait until /api/v1/keys says so
    deadline = time.monotonic() + 20
    while True:
        seen = [requests.get(server.url + "/api/v1/keys", headers={"Authorization": f"Bearer {world.keys['admin']}"},
                             timeout=10).json() for _ in range(6)]
        answers.extend(json.dumps(s).encode() for s in seen)
        statuses = [{k["key_id"]: k.get("status") for k in s["keys"]} for s in seen]
        if all(st.get(old_key) == "revoked" and new_key in st for st in statuses):
            break
        assert time.monotonic() < deadline, f"the web process kept the old key ring: {statuses}"
        time.sleep(0.5)
    time.sleep(0.5)
    for i, card in enumerate(world.cards[1:world.active]):
        a = redeem(card.token, f"old-{i}")
        assert a.status == 422, a.body
        assert json.loads(a.body)["error"]["code"] == "invalid_token"
    for i, card in enumerate(new_cards):
        a = redeem(card.token, f"new-{i}")
        assert a.status == 201, a.body
    assert world.balance(ACCOUNT_CLEAN)[0] == 5 * 10000
    assert world.count(FraudAlert, FraudAlert.kind == "forged_token") >= world.active - 1

    # the private keys (unsealed here, as only the issuer can) are nowhere
    secrets = {f"private key {k}": byte_forms(signing_key_raw(world.store, k, PASSPHRASE)) for k in (old_key, new_key)}
    secrets["code-hash pepper"] = byte_forms(world.store.pepper(WEB_PASSPHRASE))
    secrets["card-store identity"] = {world.store.cardstore_identity(PASSPHRASE).encode()}
    for card in [*world.cards, *new_cards]:  # the database leak, on PostgreSQL: no code, token or API key
        secrets[f"code of {card.serial}"] = code_forms(card.code)
        secrets[f"token of {card.serial}"] = {card.token.encode()}
    for name, key in world.keys.items():
        secrets[f"API key of {name}"] = {key.encode(), key.split(".", 1)[1].encode()}
    server.stop()
    haystacks = {"server log": fleet.logs().encode(), "HTTP responses": b"\n".join(answers),
                 "CLI output": (rotated.stdout + rotated.stderr + revoked.stdout + revoked.stderr).encode(),
                 "pg_dump": database_bytes(world.db_url)}
    found = leaks(haystacks, secrets)
    assert not found, found
    # the scan itself works: the sealed files hold ciphertext, the unsealed bytes are found where they are
    assert leaks({"probe": b"x" + signing_key_raw(world.store, old_key, PASSPHRASE).hex().encode()}, secrets)
