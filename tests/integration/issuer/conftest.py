from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests import clock
from issuer.batches import BatchRequest, BatchSummary, create_batch
from issuer.signing_keys import create_key
from vouchers.keystore.store import KeyStore
from tests.conftest import cheap_sealing

PASSPHRASE = "correct horse battery staple"
WEB_PASSPHRASE = "web secret of the issuer tests"


@dataclass
class Issuer:
    store: KeyStore
    passphrase: str
    web_passphrase: str
    sessions: sessionmaker[Session]
    now: dt.datetime

    def create(self, count: int = 10, face: int = 10000, operator: str = "alice", **kwargs) -> BatchSummary:
        request = BatchRequest(face_value=face, count=count, expires=clock.FAR_EXPIRY, currency="CNY",
                               operator=operator)
        return create_batch(self.sessions, self.store, self.passphrase, request, web_passphrase=self.web_passphrase,
                            now=self.now,
                            today=self.now.date(), issuer_code=1, max_count=100_000, **kwargs)


@pytest.fixture
def issuer(tmp_path, sessions, now) -> Issuer:
    store = KeyStore(tmp_path / "home")
    with cheap_sealing():
        store.initialise(PASSPHRASE, WEB_PASSPHRASE)
        create_key(store, PASSPHRASE, now)
    return Issuer(store, PASSPHRASE, WEB_PASSPHRASE, sessions, now)
