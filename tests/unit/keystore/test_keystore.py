from __future__ import annotations

import base64
import datetime as dt
import json
import os
import stat
from unittest import mock

import pytest

from issuer.signing_keys import create_key, revoke_key, rotate_key, unlock_signing_key
from vouchers.keystore.errors import (KeyStateError, KeyStoreError, KeyStoreMissing, NoActiveKey, PassphraseMissing,
                             WeakPassphrase, WrongPassphrase)
from vouchers.keystore.passphrase import DEMO_FILE, resolve_passphrase
from vouchers.keystore.rules import MIN_NEW_PASSPHRASE_CHARS
from vouchers.keystore.sealing import seal, unseal
from vouchers.keystore.store import KeyStore
from vouchers.keystore.vending_keys import VendingKeyId, load_vending_key, store_vending_key
from vouchers.keyring import KeyStatus
from vouchers.config import Settings

PW = "a long enough passphrase"
WEB_PW = "a long enough web secret"
NOW = dt.datetime(2026, 11, 26, 2, 0, tzinfo=dt.timezone.utc)
PASSPHRASE = "unit test passphrase"
WEB = "unit test web secret"


def test_seal_round_trip_and_purpose_binding():
    blob = seal(b"top secret", "pw", "pepper")
    assert b"top secret" not in blob
    assert unseal(blob, "pw", "pepper") == b"top secret"
    with pytest.raises(WrongPassphrase):
        unseal(blob, "other", "pepper")
    with pytest.raises(Exception):
        unseal(blob, "pw", "signing-key:x")


def test_sealed_blobs_carry_the_production_scrypt_cost_and_unseal_reads_it_from_the_blob():
    document = json.loads(seal(b"x", "pw", "pepper"))
    assert document["kdf"] == {**document["kdf"], "name": "scrypt", "n": 2**15, "r": 8, "p": 1}
    assert len(base64.b64decode(document["kdf"]["salt"])) == 32
    cheaper = {**document, "kdf": {**document["kdf"], "n": 2**10}}  # not the cost it was sealed with
    with pytest.raises(WrongPassphrase):
        unseal(json.dumps(cheaper).encode(), "pw", "pepper")


def test_store_files_are_private_and_secrets_sealed(tmp_path):
    store = KeyStore(tmp_path / "home")
    assert store.initialise(PASSPHRASE, WEB) is True
    assert store.initialise(PASSPHRASE, WEB) is False  # idempotent
    record = create_key(store, PASSPHRASE, NOW)
    key_id, raw = unlock_signing_key(store, PASSPHRASE)
    assert key_id == record.key_id and len(raw) == 32
    pepper = store.pepper(WEB)
    for path in (tmp_path / "home").rglob("*"):
        mode = stat.S_IMODE(os.stat(path).st_mode)
        assert mode & 0o077 == 0, f"{path} is {oct(mode)}"
        if path.is_file():
            data = path.read_bytes()
            assert raw not in data and pepper not in data
            assert raw.hex().encode() not in data and pepper.hex().encode() not in data


def test_wrong_passphrase_on_existing_store(tmp_path):
    store = KeyStore(tmp_path)
    store.initialise(PASSPHRASE, WEB)
    with pytest.raises(WrongPassphrase, match="VOUCHER_KEY_PASSPHRASE"):
        store.initialise("nope", WEB)
    with pytest.raises(WrongPassphrase, match="VOUCHER_WEB_PASSPHRASE"):
        store.initialise(PASSPHRASE, "nope")
    with pytest.raises(WrongPassphrase):
        create_key(store, "nope", NOW)
    with pytest.raises(WrongPassphrase):  # the web secret is not the issuer's
        create_key(store, WEB, NOW)


def test_missing_store(tmp_path):
    with pytest.raises(KeyStoreMissing):
        KeyStore(tmp_path / "absent").keyring()


def test_rotate_and_revoke(tmp_path):
    store = KeyStore(tmp_path)
    store.initialise(PASSPHRASE, WEB)
    first = create_key(store, PASSPHRASE, NOW)
    with pytest.raises(KeyStateError):
        create_key(store, PASSPHRASE, NOW)
    second, retired = rotate_key(store, PASSPHRASE, NOW)
    assert retired == [first.key_id]
    statuses = {r.key_id: r.status for r in store.records()}
    assert statuses == {first.key_id: KeyStatus.RETIRED, second.key_id: KeyStatus.ACTIVE}
    revoke_key(store, second.key_id, NOW)
    with pytest.raises(NoActiveKey):
        unlock_signing_key(store, PASSPHRASE)
    with pytest.raises(KeyStateError):
        revoke_key(store, second.key_id, NOW)
    exported = store.keyring().export()["keys"]
    assert {k["status"] for k in exported} == {"retired", "revoked"}
    assert all(set(k) == {"key_id", "alg", "public_key", "status"} for k in exported)


def test_passphrase_resolution(tmp_path):
    with pytest.raises(PassphraseMissing):
        resolve_passphrase(Settings.from_env({"VOUCHER_HOME": str(tmp_path)}))
    demo = Settings.from_env({"VOUCHER_HOME": str(tmp_path), "VOUCHER_DEMO": "1"})
    generated = resolve_passphrase(demo)
    assert resolve_passphrase(demo) == generated
    assert stat.S_IMODE(os.stat(tmp_path / DEMO_FILE).st_mode) == 0o600
    explicit = Settings.from_env({"VOUCHER_HOME": str(tmp_path), "VOUCHER_DEMO": "1", "VOUCHER_KEY_PASSPHRASE": "x"})
    assert resolve_passphrase(explicit) == "x"


def test_demo_mode_leaves_a_real_key_store_alone(tmp_path):
    KeyStore(tmp_path).initialise(PW, WEB_PW)
    demo = Settings.from_env({"VOUCHER_HOME": str(tmp_path), "VOUCHER_DEMO": "1"})
    with pytest.raises(PassphraseMissing, match="demo mode cannot open the key store"):
        resolve_passphrase(demo)
    assert not (tmp_path / DEMO_FILE).exists()


@pytest.mark.parametrize("weak", ["", "a", "eleven char", " " * 20 + "a"])
def test_a_new_store_refuses_a_short_passphrase(tmp_path, weak):
    store = KeyStore(tmp_path / "home")
    with pytest.raises(WeakPassphrase, match=f"at least {MIN_NEW_PASSPHRASE_CHARS} characters"):
        store.initialise(weak, WEB_PW)
    with pytest.raises(WeakPassphrase, match="VOUCHER_WEB_PASSPHRASE is too short"):
        store.initialise(PW, weak)
    assert not (tmp_path / "home").exists()
    with pytest.raises(KeyStoreMissing):  # a vending key is never the first secret of a home
        store_vending_key(store, VendingKeyId(1, 1, 2), b"k" * 20, weak)
    assert store.initialise("twelve chars", "twelve chars, web") is True


def test_a_store_made_with_a_short_passphrase_keeps_opening(tmp_path):
    store = KeyStore(tmp_path)
    with mock.patch("vouchers.keystore.store.check_new_passphrase"):  # made before the rule existed
        store.initialise("a", "b")
    assert store.initialise("a", "b") is False
    create_key(store, "a", NOW)
    assert len(unlock_signing_key(store, "a")[1]) == 32
    store_vending_key(store, VendingKeyId(1, 1, 2), b"k" * 20, "b")
    assert load_vending_key(store, VendingKeyId(1, 1, 2), "b") == b"k" * 20


@pytest.mark.parametrize("lost", ["pepper.sealed", "keyring.json"])
def test_init_never_replaces_a_store_that_lost_a_file(tmp_path, lost):
    store = KeyStore(tmp_path)
    store.initialise(PW, WEB_PW)
    create_key(store, PW, NOW)
    before = {p.name: p.read_bytes() for p in store.dir.rglob("*") if p.is_file()}
    (store.dir / lost).unlink()
    for attempt in (lambda: store.initialise(PW, WEB_PW), store.require):
        with pytest.raises(KeyStoreError, match=f"incomplete: {lost} missing .*restore the missing file"):
            attempt()
    after = {p.name: p.read_bytes() for p in store.dir.rglob("*") if p.is_file()}
    assert after == {name: data for name, data in before.items() if name != lost}


def test_init_completes_a_store_whose_first_initialise_was_cut_short(tmp_path):
    store = KeyStore(tmp_path)
    store.initialise(PW, WEB_PW)
    store.pepper_path.unlink()  # as if the process died before the pepper, the last file, was written
    assert store.initialise(PW, WEB_PW) is True and store.pepper(WEB_PW)
