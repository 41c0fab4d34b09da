"""Vending keys are sealed apart from signing keys; concurrent vends never share a TID."""
from __future__ import annotations

import threading

import pytest

from vouchers.keystore.errors import KeyStateError, KeyStoreError, KeyStoreMissing, WrongPassphrase
from vouchers.keystore.sealing import seal
from vouchers.keystore.store import KeyStore
from vouchers.keystore.vending_keys import VendingKeyId, list_vending_keys, load_vending_key, store_vending_key, vending_dir
from tests.integration.vending.conftest import ACCOUNT, CATALOG, ISSUER_PASSPHRASE, PASSPHRASE, VENDING_KEY, VendWorld, at
from vouchers.books.payments import post_payment
from vouchers.vending.service import vend_for_credit


def test_vending_keys_are_sealed_under_their_own_purpose(tmp_path) -> None:
    store = KeyStore(tmp_path / "home")
    key_id = VendingKeyId(123457, 1, 2)
    with pytest.raises(KeyStoreMissing):  # never a vending key without a key store to go with it
        store_vending_key(store, key_id, VENDING_KEY, PASSPHRASE)
    store.initialise(ISSUER_PASSPHRASE, PASSPHRASE)
    with pytest.raises(WrongPassphrase):  # nor one sealed under a passphrase the store does not open with
        store_vending_key(store, key_id, VENDING_KEY, PASSPHRASE + "x")
    assert list_vending_keys(store) == []
    store_vending_key(store, key_id, VENDING_KEY, PASSPHRASE)
    path = vending_dir(store) / key_id.file_name
    assert VENDING_KEY.hex() not in path.read_text() and oct(path.stat().st_mode & 0o777) == "0o600"
    assert load_vending_key(store, key_id, PASSPHRASE) == VENDING_KEY
    assert list_vending_keys(store) == [key_id]
    with pytest.raises(KeyStateError):
        store_vending_key(store, key_id, VENDING_KEY, PASSPHRASE)
    # a signing-key blob dropped in place of a vending key does not open as one
    path.write_bytes(seal(b"x" * 32, PASSPHRASE, "signing-key:k1"))
    with pytest.raises(KeyStoreError):
        load_vending_key(store, key_id, PASSPHRASE)
    with pytest.raises(KeyStoreError):
        store_vending_key(store, VendingKeyId(1, 1, 2), b"short", PASSPHRASE)


def test_concurrent_vends_for_one_meter_get_distinct_tids(vw: VendWorld, db_url: str) -> None:
    if db_url.startswith("sqlite"):
        pytest.skip("SQLite has one writer at a time; the race is a PostgreSQL matter")
    now = at("2026-11-26", 10)
    backend = vw.backend()
    with vw.sessions.begin() as s:  # the money the twelve vends sell
        post_payment(s, "counter_cash", ACCOUNT, 12 * 1000, "FUND-CONCURRENT", now, now)
    tids: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            for _ in range(4):
                with vw.sessions.begin() as s:
                    result = vend_for_credit(s, ACCOUNT, 1000, now, backend, catalog=CATALOG)
                with lock:
                    tids.append(result.tid)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(tids) == 12 and len(set(tids)) == 12
    assert max(tids) - min(tids) == 11  # one minute, twelve consecutive TIDs
