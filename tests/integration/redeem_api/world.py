"""A real world for the API tests: key store, an approved and partly activated batch
(codes read back from the sealed card file), customers, and one API client per role.

Tests may use ``issuer`` to set data up; ``redeem_api`` itself never does.
"""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from tests import clock
from issuer.batches import BatchRequest, approve_batch, create_batch, void_batch
from issuer.cardstore import card_file_path, read_cards
from print_templates import CardRecord
from issuer.signing_keys import create_key
from vouchers.keystore.store import KeyStore
from vouchers.books import stock
from vouchers.books.customers import create_customer, customer_summary
from vouchers.books.voucher_books import activate
from vouchers.services.clients import create_client
from redeem_api.config import ApiConfig
from vouchers.storage.db import make_engine, session_factory
from tests.conftest import cheap_sealing
from vouchers.config import Settings

PASSPHRASE = "api test passphrase"  # the issuer's: only the tests' issuer side uses it
WEB_PASSPHRASE = "api test web secret"  # all the app under test gets
DISTRIBUTOR = "D001"
OTHER_DISTRIBUTOR = "D002"
ACCOUNT_ARREARS = "3100000001"  # 30.00 of arrears
ACCOUNT_CLEAN = "3100000002"
ACCOUNT_METERED = "3100000003"  # created by World.metered_account (prepaid, Fujian tariff, meter M3100000003)
EXPIRES = clock.FAR_EXPIRY  # servers of the e2e tests run on the real clock


class Clock:
    """A settable clock for the app under test."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@dataclass
class World:
    home: Path
    db_url: str
    engine: Engine
    sessions: sessionmaker[Session]
    store: KeyStore
    now: dt.datetime
    batch_id: str
    cards: list[CardRecord]
    active: int  # cards[:active] are activated for DISTRIBUTOR
    keys: dict[str, str] = field(default_factory=dict)  # name -> API key
    client_ids: dict[str, str] = field(default_factory=dict)

    def env(self, **extra: str) -> dict[str, str]:
        env = {"VOUCHER_HOME": str(self.home), "VOUCHER_DATABASE_URL": self.db_url,
               "VOUCHER_WEB_PASSPHRASE": WEB_PASSPHRASE, "VOUCHER_COOKIE_SECURE": "0"}
        env.update(extra)
        return env

    def settings(self, **extra: str) -> Settings:
        return Settings.from_env(self.env(**extra))

    def config(self, clock: Clock | None = None, **extra: str) -> ApiConfig:
        return ApiConfig.from_settings(self.settings(**extra), clock=clock or Clock(self.now))

    def app(self, clock: Clock | None = None, **extra: str):
        from redeem_api.app import create_app

        app = create_app(self.config(clock, **extra))
        app.testing = True
        return app

    def balance(self, account_no: str) -> tuple[int, int]:
        """(prepaid balance, arrears) in minor units."""
        with self.sessions.begin() as s:
            summary = customer_summary(s, account_no)
        return summary.balance, summary.arrears

    def count(self, model, *where) -> int:
        with self.sessions.begin() as s:
            return s.execute(select(func.count()).select_from(model).where(*where)).scalar_one()

    def add_client(self, name: str, role: str, **kwargs) -> str:
        with self.sessions.begin() as s:
            record, key = create_client(s, name=name, role=role, now=self.now, **kwargs)
        self.keys[name] = key
        self.client_ids[name] = record.client_id
        return key

    def new_batch(self, count: int, *, face: int = 10000, activate_count: int = 0,
                  distributor: str = DISTRIBUTOR, consign: bool = True) -> tuple[str, list[CardRecord]]:
        """An approved batch; by default all of it shipped to ``distributor`` and its first cards sold."""
        summary = create_batch(self.sessions, self.store, PASSPHRASE,
                               BatchRequest(face_value=face, count=count, expires=EXPIRES, currency="CNY",
                                            operator="alice"),
                               web_passphrase=WEB_PASSPHRASE, now=self.now, today=self.now.date(), issuer_code=1, max_count=1_000_000)
        with self.sessions.begin() as s:
            approve_batch(s, summary.batch_id, "bob", self.now)
            if consign:
                stock.consign(s, summary.batch_id, distributor, now=self.now, actor="carol")
        cards = list(read_cards(card_file_path(self.store.home, summary.batch_id),
                                self.store.cardstore_identity(PASSPHRASE)))
        if activate_count:
            with self.sessions.begin() as s:
                activate(s, summary.batch_id, distributor, cards[0].serial, cards[activate_count - 1].serial,
                         now=self.now, actor="test")
        return summary.batch_id, cards

    def metered_account(self, account_no: str = ACCOUNT_METERED, *, mode: str = "prepaid",
                        tariff: str = "fj-residential", meter: str | None = None,
                        opening: tuple[str, str] = ("2026-11-01", "100"), time_of_use: bool = False,
                        opening_tou: tuple[str, str] | None = None, prepaid: int = 0) -> str:
        """A customer with a tariff assignment and a meter (its opening reading is the baseline)."""
        from vouchers.books.payments import post_payment
        from vouchers.metering.accounts import assign_tariff
        from vouchers.metering.units import parse_register
        from vouchers.tariffs import load_catalog

        opened = dt.datetime.combine(dt.date.fromisoformat(opening[0]), dt.time(9), tzinfo=self.now.tzinfo)
        with self.sessions.begin() as s:
            create_customer(s, account_no, f"metered {account_no}", now=opened)
            assign_tariff(s, account_no, tariff_id=tariff, customer_class="residential", payment_mode=mode,
                          area="Xiamen", meter_no=meter or f"M{account_no}", catalog=load_catalog(), now=opened,
                          time_of_use=time_of_use, opening_reading_ckwh=parse_register(opening[1]),
                          opening_date=dt.date.fromisoformat(opening[0]),
                          opening_peak_ckwh=parse_register(opening_tou[0]) if opening_tou else None,
                          opening_valley_ckwh=parse_register(opening_tou[1]) if opening_tou else None)
            if prepaid:
                post_payment(s, "counter_cash", account_no, prepaid, f"open-{account_no}", opened, opened)
        return account_no

    def void(self, batch_id: str) -> None:
        from vouchers.books.voucher_books import reverse_liability_for_void

        with self.sessions.begin() as s:
            void_batch(s, batch_id, "stolen in transit", "carol", self.now,
                       on_void=lambda session, batch: reverse_liability_for_void(session, batch.id, self.now))


def build_world(tmp_path: Path, db_url: str, now: dt.datetime, *, count: int = 12, active: int = 8,
                accounts: int = 0) -> World:
    with cheap_sealing():  # a world is built for each of several hundred tests
        return _build_world(tmp_path, db_url, now, count=count, active=active, accounts=accounts)


def _build_world(tmp_path: Path, db_url: str, now: dt.datetime, *, count: int, active: int,
                 accounts: int) -> World:
    home = tmp_path / "home"
    store = KeyStore(home)
    store.initialise(PASSPHRASE, WEB_PASSPHRASE)
    create_key(store, PASSPHRASE, now)
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    world = World(home, db_url, engine, sessions, store, now, "", [], active)
    world.batch_id, world.cards = world.new_batch(count, activate_count=active)
    with sessions.begin() as s:
        create_customer(s, ACCOUNT_ARREARS, "张三", arrears=3000, arrears_due=now.date() - dt.timedelta(days=20),
                        district="海淀区", now=now)
        create_customer(s, ACCOUNT_CLEAN, "李四", now=now)
        for i in range(accounts):
            create_customer(s, f"32{i:08d}", f"customer {i}", now=now)
    world.add_client("terminal", "terminal")
    world.add_client("terminal2", "terminal")
    world.add_client("distributor", "distributor", distributor_id=DISTRIBUTOR)
    world.add_client("distributor2", "distributor", distributor_id=OTHER_DISTRIBUTOR)
    world.add_client("channel", "channel", channel="alipay")
    world.add_client("finance", "finance")
    world.add_client("admin", "admin")
    world.add_client("headend", "headend")
    world.add_client("service", "service")
    world.add_client("sms_gateway", "sms_gateway")
    return world


def auth(key: str, idempotency_key: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {key}"}
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    return headers


def fresh_key() -> str:
    return os.urandom(12).hex()


def without_request_id(body: bytes) -> bytes:
    """An error body without its ``request_id`` (random per request): what must be equal across requests."""
    import re

    stripped, found = re.subn(rb',"request_id":"[0-9a-f]{32}"', b"", body)
    assert found == 1, body
    return stripped
