"""Fixtures of the books: batches of vouchers written straight into the tables."""
from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass

import pytest
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from vouchers.storage.models import Batch, Voucher
from vouchers.serials import Serial, batch_id_for

ISSUER = 1


@dataclass(frozen=True)
class StockBatch:
    pk: int
    batch_id: str
    count: int
    face_value: int
    currency: str
    expires: dt.date

    def serial(self, sequence: int) -> str:
        return str(Serial(ISSUER, self.pk, sequence))


def make_batch(session: Session, *, count: int, face_value: int = 10_000, currency: str = "CNY",
               expires: dt.date = dt.date(2027, 12, 31), status: str = "approved",
               now: dt.datetime | None = None) -> StockBatch:
    """A batch of ``count`` inactive vouchers (code hashes are arbitrary unique bytes)."""
    created = now or dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    batch = Batch(batch_id=f"tmp-{uuid.uuid4().hex[:12]}", issuer_code=ISSUER, face_value=face_value,
                  currency=currency, count=count, expires=expires, status=status, key_id="test-key",
                  first_serial="", last_serial="", card_data_sha256="0" * 64, created_by="maker",
                  created_at=created)
    session.add(batch)
    session.flush()
    batch.batch_id = batch_id_for(ISSUER, batch.id)
    batch.first_serial = str(Serial(ISSUER, batch.id, 1))
    batch.last_serial = str(Serial(ISSUER, batch.id, count))
    session.flush()
    session.execute(insert(Voucher.__table__), [
        {"serial": str(Serial(ISSUER, batch.id, seq)), "batch_pk": batch.id, "sequence": seq,
         "code_hash": hashlib.sha256(f"{batch.id}:{seq}".encode()).digest(), "face_value": face_value,
         "currency": currency, "expires": expires, "status": "inactive"}
        for seq in range(1, count + 1)])
    return StockBatch(batch.id, batch.batch_id, count, face_value, currency, expires)


def voucher_id(session: Session, batch: StockBatch, sequence: int) -> int:
    return session.execute(select(Voucher.id).where(Voucher.batch_pk == batch.pk,
                                                    Voucher.sequence == sequence)).scalar_one()


@pytest.fixture
def stock(sessions):
    """``stock(count=..., face_value=...)`` -> a committed StockBatch."""
    def factory(**kwargs) -> StockBatch:
        with sessions.begin() as session:
            return make_batch(session, **kwargs)
    return factory
