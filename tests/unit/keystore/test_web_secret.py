"""The key store split by trust: the web secret opens the pepper and vending keys, never a signing key."""
from __future__ import annotations

import datetime as dt
import json
import tarfile
from pathlib import Path
from unittest import mock

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from issuer.signing_keys import create_key, signing_key_raw, unlock_signing_key
from vouchers.keystore.audit_key import ensure_audit_key, load_audit_key
from vouchers.keystore.errors import KeyStoreError, NotSplit, PassphraseMissing, WeakPassphrase, WrongPassphrase
from vouchers.keystore.passphrase import DEMO_FILE, DEMO_WEB_FILE, resolve_passphrase, resolve_web_passphrase
from vouchers.keystore.sealing import sealed_purpose, unseal
from vouchers.keystore.split import split_web_secret
from vouchers.keystore.store import LEGACY_PEPPER_PURPOSE, PEPPER_PURPOSE, KeyStore, signing_purpose
from vouchers.keystore.vending_keys import VendingKeyId, load_vending_key, store_vending_key
from vouchers.keystore.web_keys import WebKeys
from tests.conftest import cheap_sealing
from vouchers.config import Settings

ISSUER = "unit test issuer passphrase"
WEB = "unit test web secret"
NOW = dt.datetime(2026, 11, 26, 2, 0, tzinfo=dt.timezone.utc)
VECTOR = Path(__file__).parents[2] / "vectors" / "keystore" / "legacy-one-passphrase.tar.gz"
LEGACY_PASSPHRASE = "legacy store passphrase"  # see tests/vectors/keystore/README.md
LEGACY_VENDING = VendingKeyId(123457, 1, 2), bytes.fromhex("abababababababab949494949494949401234567")
_PUBLIC = (serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@pytest.fixture
def store(tmp_path):
    store = KeyStore(tmp_path / "home")
    with cheap_sealing():
        store.initialise(ISSUER, WEB)
        create_key(store, ISSUER, NOW)
        store_vending_key(store, LEGACY_VENDING[0], LEGACY_VENDING[1], WEB)
        yield store


def legacy_store(tmp_path: Path) -> KeyStore:
    """The key store the code before the split made (tests/vectors/keystore)."""
    home = tmp_path / "legacy"
    home.mkdir(mode=0o700)
    with tarfile.open(VECTOR) as archive:
        archive.extractall(home, filter="data")
    return KeyStore(home)


def test_a_new_store_seals_web_material_under_the_web_secret_only(store):
    assert store.is_split()
    assert sealed_purpose(store.pepper_path.read_bytes()) == PEPPER_PURPOSE
    assert len(store.pepper(WEB)) == 32
    with pytest.raises(WrongPassphrase, match="VOUCHER_WEB_PASSPHRASE"):
        store.pepper(ISSUER)
    assert load_vending_key(store, *LEGACY_VENDING[:1], WEB) == LEGACY_VENDING[1]
    with pytest.raises(WrongPassphrase):
        load_vending_key(store, LEGACY_VENDING[0], ISSUER)


def test_the_web_secret_cannot_unseal_a_signing_key(store):
    key_id = store.records()[0].key_id
    with pytest.raises(WrongPassphrase, match="VOUCHER_KEY_PASSPHRASE"):
        signing_key_raw(store, key_id, WEB)
    with pytest.raises(WrongPassphrase):  # nor by going round the accessor, straight at the file
        unseal(store.signing_path(key_id).read_bytes(), WEB, signing_purpose(key_id))
    with pytest.raises(WrongPassphrase):
        unlock_signing_key(store, WEB)
    with pytest.raises(WrongPassphrase):
        store.cardstore_identity(WEB)
    ensure_audit_key(store, ISSUER)
    with pytest.raises(WrongPassphrase):
        load_audit_key(store, WEB)
    with pytest.raises(WrongPassphrase):
        create_key(store, WEB, NOW)
    assert len(signing_key_raw(store, key_id, ISSUER)) == 32  # the issuer can


def test_web_keys_expose_only_the_pepper_vending_keys_and_the_public_ring(store):
    keys = WebKeys.open(store.home, WEB)
    assert keys.pepper() == store.pepper(WEB)
    assert keys.vending_keys().key(LEGACY_VENDING[0]) == LEGACY_VENDING[1]
    assert [k.key_id for k in keys.keyring()] == [r.key_id for r in store.records()]
    public = {name for name in dir(keys) if not name.startswith("_")}
    assert public == {"open", "ring_path", "keyring", "pepper", "vending_keys"}
    assert WEB not in repr(keys) and WEB not in repr(keys.vending_keys())
    with pytest.raises(WrongPassphrase, match="VOUCHER_WEB_PASSPHRASE"):
        WebKeys.open(store.home, ISSUER).pepper()


def test_a_new_store_needs_two_different_long_enough_secrets(tmp_path):
    store = KeyStore(tmp_path / "home")
    with pytest.raises(PassphraseMissing, match="VOUCHER_WEB_PASSPHRASE is not set"):
        store.initialise(ISSUER, None)
    with pytest.raises(WeakPassphrase, match="must differ"):
        store.initialise(ISSUER, ISSUER)
    assert not (tmp_path / "home").exists()


def test_an_existing_store_opens_without_the_web_secret_for_issuer_work(store):
    assert store.initialise(ISSUER, None) is False


def test_only_the_web_secret_means_no_issuer_passphrase(tmp_path):
    settings = Settings.from_env({"VOUCHER_HOME": str(tmp_path), "VOUCHER_WEB_PASSPHRASE": WEB})
    assert resolve_web_passphrase(settings) == WEB
    with pytest.raises(PassphraseMissing, match="VOUCHER_KEY_PASSPHRASE is not set.*VOUCHER_WEB_PASSPHRASE alone"):
        resolve_passphrase(settings)


def test_demo_mode_generates_both_secrets_and_keeps_them(tmp_path):
    demo = Settings.from_env({"VOUCHER_HOME": str(tmp_path), "VOUCHER_DEMO": "1"})
    issuer, web = resolve_passphrase(demo), resolve_web_passphrase(demo)
    assert issuer != web and (tmp_path / DEMO_FILE).exists() and (tmp_path / DEMO_WEB_FILE).exists()
    with cheap_sealing():
        assert KeyStore(tmp_path).initialise(issuer, web) is True
    assert (resolve_passphrase(demo), resolve_web_passphrase(demo)) == (issuer, web)
    assert len(KeyStore(tmp_path).pepper(web)) == 32


def test_demo_mode_gives_a_web_secret_to_an_old_demo_store_but_never_to_a_real_one(tmp_path):
    real = legacy_store(tmp_path)
    demo = Settings.from_env({"VOUCHER_HOME": str(real.home), "VOUCHER_DEMO": "1"})
    with pytest.raises(PassphraseMissing, match="demo mode cannot open"):
        resolve_web_passphrase(demo)
    (real.home / DEMO_FILE).write_text(LEGACY_PASSPHRASE + "\n")  # as the old demo mode left it
    web = resolve_web_passphrase(demo)
    assert split_web_secret(real, resolve_passphrase(demo), web).resealed
    assert WebKeys.open(real.home, web).pepper()


# -- migration of a store made by the code before the split -------------------------------------------------
def test_an_old_store_is_refused_by_the_web_with_the_command_that_fixes_it(tmp_path):
    old = legacy_store(tmp_path)
    assert not old.is_split()
    with pytest.raises(NotSplit, match="voucherctl keys split-web-secret"):
        WebKeys.open(old.home, WEB)
    with pytest.raises(NotSplit, match="voucherctl keys split-web-secret"):
        old.pepper(LEGACY_PASSPHRASE)
    # issuer work that needs no web material goes on: the signing key opens with the issuer passphrase
    assert len(unlock_signing_key(old, LEGACY_PASSPHRASE)[1]) == 32


def test_split_web_secret_migrates_an_old_store_and_is_idempotent(tmp_path):
    old = legacy_store(tmp_path)
    before = {p: p.read_bytes() for p in old.dir.rglob("*") if p.is_file()}
    pepper = unseal(old.pepper_path.read_bytes(), LEGACY_PASSPHRASE, LEGACY_PEPPER_PURPOSE)

    result = split_web_secret(old, LEGACY_PASSPHRASE, WEB)
    assert not result.already_split
    assert result.resealed == ["vending/sgc123457-krn1-kt2.sealed", "pepper.sealed"]  # the pepper last
    keys = WebKeys.open(old.home, WEB)
    assert keys.pepper() == pepper
    assert keys.vending_keys().key(LEGACY_VENDING[0]) == LEGACY_VENDING[1]
    # the issuer's secrets did not move: same bytes, still the issuer passphrase, never the web secret
    after = {p: p.read_bytes() for p in old.dir.rglob("*") if p.is_file()}
    unchanged = {p for p in before if before[p] == after[p]}
    assert {p.relative_to(old.dir).as_posix() for p in set(before) - unchanged} == set(result.resealed)
    for record in old.records():
        raw = signing_key_raw(old, record.key_id, LEGACY_PASSPHRASE)
        public = Ed25519PrivateKey.from_private_bytes(raw).public_key().public_bytes(*_PUBLIC)
        assert public == record.public_bytes
        with pytest.raises(WrongPassphrase):
            signing_key_raw(old, record.key_id, WEB)
    assert load_audit_key(old, LEGACY_PASSPHRASE) and old.cardstore_identity(LEGACY_PASSPHRASE).startswith("AGE-")
    with pytest.raises(WrongPassphrase):
        old.pepper(LEGACY_PASSPHRASE)

    again = split_web_secret(old, LEGACY_PASSPHRASE, WEB)  # idempotent: checks, changes nothing
    assert again.already_split and again.resealed == []
    assert {p: p.read_bytes() for p in old.dir.rglob("*") if p.is_file()} == after
    with pytest.raises(WrongPassphrase, match="VOUCHER_WEB_PASSPHRASE"):
        split_web_secret(old, LEGACY_PASSPHRASE, "another web secret")


def test_split_refuses_wrong_or_weak_secrets_and_changes_nothing(tmp_path):
    old = legacy_store(tmp_path)
    before = {p: p.read_bytes() for p in old.dir.rglob("*") if p.is_file()}
    for issuer, web, error in ((WEB, WEB + "!", WrongPassphrase), (LEGACY_PASSPHRASE, "short", WeakPassphrase),
                               (LEGACY_PASSPHRASE, LEGACY_PASSPHRASE, WeakPassphrase)):
        with pytest.raises(error):
            split_web_secret(old, issuer, web)
    assert {p: p.read_bytes() for p in old.dir.rglob("*") if p.is_file()} == before


def test_split_is_all_or_nothing_when_writing_fails(tmp_path):
    old = legacy_store(tmp_path)
    before = {p: p.read_bytes() for p in old.dir.rglob("*") if p.is_file()}
    real_create = __import__("vouchers.keystore.files", fromlist=["create_private"]).create_private
    calls = []

    def fail_second(path):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real_create(path)

    with mock.patch("vouchers.keystore.files.create_private", side_effect=fail_second), pytest.raises(OSError):
        split_web_secret(old, LEGACY_PASSPHRASE, WEB)
    files = {p: p.read_bytes() for p in old.dir.rglob("*") if p.is_file()}
    assert files == before  # no file replaced, no temporary file left
    assert not old.is_split()


def test_split_finishes_a_run_cut_short_between_the_renames(tmp_path):
    old = legacy_store(tmp_path)
    real_replace = __import__("os").replace
    done = []

    def crash_before_the_pepper(src, dst):
        if str(dst).endswith("pepper.sealed"):
            raise KeyboardInterrupt  # the process dies after the vending key was replaced
        done.append(dst)
        return real_replace(src, dst)

    with mock.patch("vouchers.keystore.files.os.replace", side_effect=crash_before_the_pepper), \
            pytest.raises(KeyboardInterrupt):
        split_web_secret(old, LEGACY_PASSPHRASE, WEB)
    assert len(done) == 1 and not old.is_split()  # the web still refuses the store
    assert not list(old.dir.rglob(".*.tmp"))  # the pepper's temporary file was removed
    result = split_web_secret(old, LEGACY_PASSPHRASE, WEB)
    assert result.resealed == ["pepper.sealed"]  # the vending key was done, checked, kept
    assert WebKeys.open(old.home, WEB).vending_keys().key(LEGACY_VENDING[0]) == LEGACY_VENDING[1]


def test_a_vending_file_of_another_purpose_is_refused(tmp_path):
    old = legacy_store(tmp_path)
    path = old.dir / "vending" / LEGACY_VENDING[0].file_name
    document = json.loads(path.read_bytes())
    path.write_text(json.dumps({**document, "purpose": "signing-key:x"}))
    with pytest.raises(KeyStoreError, match="not a sealed vending key"):
        split_web_secret(old, LEGACY_PASSPHRASE, WEB)
    assert not old.is_split()

