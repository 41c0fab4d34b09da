"""A prepaid account with an STS meter, vending keys in a key store, on SQLite and PostgreSQL."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from vouchers.keystore.store import KeyStore
from vouchers.keystore.vending_keys import VendingKeyId, store_vending_key
from tests.conftest import cheap_sealing
from tests.integration.metering.conftest import CATALOG, World, at
from vouchers.vending.keys import software_backend
from vouchers.vending.meters import add_meter

VENDING_KEY = bytes.fromhex("abababababababab949494949494949401234567")  # docs/sts.md §7
PASSPHRASE = "vending test web secret"  # VOUCHER_WEB_PASSPHRASE: it seals vending keys
ISSUER_PASSPHRASE = "vending test issuer passphrase"
PAN = "600727000000000009"
ACCOUNT = "3300000001"


@dataclass
class VendWorld:
    metering: World
    store: KeyStore

    @property
    def sessions(self):  # type: ignore[no-untyped-def]
        return self.metering.sessions

    def backend(self):  # type: ignore[no-untyped-def]
        return software_backend(self.store, PASSPHRASE)

    def meter(self, account_no: str, pan: str, *, ken: int = 255, krn: int = 1, sgc: int = 123457,
              base_date: int = 2014) -> str:
        with self.sessions.begin() as s:
            add_meter(s, pan=pan, account_no=account_no, sgc=sgc, ti=1, krn=krn, key_type=2, ken=ken,
                      base_date=base_date, now=at("2026-01-02"))
        return pan


def with_keypad_meter(world, now):  # type: ignore[no-untyped-def]
    """The API's world (tests/integration/redeem_api/world.py) with ``ACCOUNT_CLEAN`` made prepaid on the Fujian
    tariff with the STS meter ``PAN``, its vending key in the world's key store. Returns the world."""
    from tests.integration.redeem_api.world import ACCOUNT_CLEAN, WEB_PASSPHRASE
    from vouchers.metering.accounts import assign_tariff

    store_vending_key(world.store, VendingKeyId(123457, 1, 2), VENDING_KEY, WEB_PASSPHRASE)
    with world.sessions.begin() as s:
        assign_tariff(s, ACCOUNT_CLEAN, tariff_id="fj-residential", customer_class="residential",
                      payment_mode="prepaid", area="Xiamen", meter_no="MCLEAN", catalog=CATALOG, now=now)
        add_meter(s, pan=PAN, account_no=ACCOUNT_CLEAN, sgc=123457, ti=1, krn=1, key_type=2, ken=255,
                  base_date=2014, now=now)
    return world


@pytest.fixture
def vw(sessions, tmp_path) -> VendWorld:
    store = KeyStore(tmp_path / "home")
    with cheap_sealing():
        store.initialise(ISSUER_PASSPHRASE, PASSPHRASE)
        store_vending_key(store, VendingKeyId(123457, 1, 2), VENDING_KEY, PASSPHRASE)
    world = VendWorld(World(sessions), store)
    world.metering.customer(ACCOUNT, mode="prepaid")
    world.meter(ACCOUNT, PAN)
    return world


__all__ = ["ACCOUNT", "CATALOG", "ISSUER_PASSPHRASE", "PAN", "PASSPHRASE", "VENDING_KEY", "VendWorld", "at", "with_keypad_meter"]
