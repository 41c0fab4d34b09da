"""A world for the money services: the API's world (cards, clients) with a keypad-meter account.

``ACCOUNT_CLEAN`` is prepaid on the Fujian tariff with the STS meter ``PAN``;
the key store holds its vending key. SQLite and PostgreSQL (``db_url``).
"""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from vouchers.metering.config import MeteringConfig
from vouchers.storage.api_models import OutboxMessage
from vouchers.sts.decoder import decode_token
from vouchers.sts.dkga04 import derive_decoder_key
from vouchers.tariffs import load_catalog
from tests.integration.redeem_api.world import ACCOUNT_CLEAN, WEB_PASSPHRASE, World, build_world
from tests.integration.vending.conftest import PAN, VENDING_KEY, with_keypad_meter
from vouchers.vending.keys import software_backend
from vouchers.vending.meters import get_meter
from vouchers.services.deps import ServiceDeps, built_once

CATALOG = load_catalog()


@pytest.fixture
def world(tmp_path, db_url, now) -> World:
    world = with_keypad_meter(build_world(tmp_path, db_url, now), now)
    yield world
    world.engine.dispose()


@pytest.fixture
def deps(world) -> ServiceDeps:
    """What an edge builds once: the shipped tariffs, default metering settings, the store's vending keys."""
    return ServiceDeps(catalog=CATALOG, metering=MeteringConfig(),
                       vending=built_once(lambda: software_backend(world.store, WEB_PASSPHRASE)))


def decode(world: World, grouped: str):  # type: ignore[no-untyped-def]
    """The token as the customer's meter reads it (verified)."""
    with world.sessions.begin() as s:
        params = get_meter(s, PAN).params()
    return decode_token(grouped, derive_decoder_key(VENDING_KEY, params)).verified()


def outbox(world: World, kind: str) -> list[dict]:
    with world.sessions.begin() as s:
        return [json.loads(p) for p in s.execute(select(OutboxMessage.payload)
                                                 .where(OutboxMessage.kind == kind).order_by(OutboxMessage.id))
                .scalars()]


def energy_sold(world: World) -> int:
    """Revenue booked by energy sales (STS tokens), in minor units."""
    from sqlalchemy import func

    from vouchers.books import chart
    from vouchers.storage.ledger_models import LedgerAccount, LedgerPosting, LedgerTransaction

    with world.sessions.begin() as s:
        return -s.execute(select(func.coalesce(func.sum(LedgerPosting.amount), 0))
                          .join(LedgerTransaction, LedgerTransaction.id == LedgerPosting.transaction_id)
                          .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
                          .where(LedgerTransaction.kind == "energy_sale", LedgerAccount.code == chart.REVENUE)
                          ).scalar_one()
