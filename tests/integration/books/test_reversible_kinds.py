"""Which journal transactions finance may reverse by hand (`ledger reverse`), and which it may not."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from vouchers.books import chart, customers, payments, voucher_books
from vouchers.books.accounts import balance
from vouchers.books.corrections import reverse_transaction
from vouchers.books.energy_sales import book_energy_sale, reverse_energy_sale
from vouchers.books.errors import ReversalNotAllowed
from vouchers.books.verify import verify
from vouchers.storage.ledger_models import LedgerTransaction

from .conftest import voucher_id

PAID_AT = dt.datetime(2026, 11, 25, 10, tzinfo=dt.timezone(dt.timedelta(hours=8)))


@pytest.fixture
def sale(sessions, now) -> int:
    """0301 paid 100.00 by Alipay, then 30.00 of it was sold as an STS token (Dr prepaid, Cr revenue)."""
    with sessions.begin() as s:
        customers.create_customer(s, "0301", "户主", now=now)
        payments.post_payment(s, "alipay", "0301", 10000, "A-1", PAID_AT, now)
    with sessions.begin() as s:
        return book_energy_sale(s, "0301", 3000, external_ref="sts_vend:1", occurred_at=now, now=now,
                                actor="vending").transaction_id


def test_an_energy_sale_is_reversed_by_its_mirror_once(sessions, now, sale):
    with sessions.begin() as s:
        assert customers.customer_summary(s, "0301").balance == 7000
        posted = reverse_transaction(s, sale, now=now, actor="finance", reason="booked twice")
    with sessions.begin() as s:
        reversal = s.get(LedgerTransaction, posted.transaction_id)
        assert (reversal.kind, reversal.reverses_id, reversal.memo) == ("reversal", sale, "booked twice")
        assert customers.customer_summary(s, "0301").balance == 10000
        assert balance(s, chart.REVENUE, "CNY") == 0
        assert verify(s).ok
    with pytest.raises(ReversalNotAllowed, match="already reversed"), sessions.begin() as s:
        reverse_transaction(s, sale, now=now, actor="finance", reason="again")
    with pytest.raises(ReversalNotAllowed, match="already reversed"), sessions.begin() as s:
        reverse_energy_sale(s, sale, now=now, actor="finance", reason="the other way")  # one reversal mechanism


def test_voucher_lifecycle_and_settlement_kinds_stay_irreversible(sessions, now, stock):
    batch = stock(count=3, face_value=5000, expires=dt.date(2026, 11, 20))
    with sessions.begin() as s:
        customers.create_customer(s, "0302", "户主", now=now)
        voucher_books.activate(s, batch.batch_id, "SHOP-1", now=now, actor="SHOP-1")
    with sessions.begin() as s:
        voucher_books.redeem(s, voucher_id(s, batch, 1), "0302", today=dt.date(2026, 11, 19), now=now, actor="t")
    with sessions.begin() as s:
        voucher_books.expire_vouchers(s, dt.date(2026, 11, 21), now)
    with sessions.begin() as s:
        kinds = dict(s.execute(select(LedgerTransaction.kind, LedgerTransaction.id)).all())
    assert {"activation", "redemption", "expiry"} <= set(kinds)
    for kind in ("activation", "redemption", "expiry"):
        with pytest.raises(ReversalNotAllowed, match="its own process"), sessions.begin() as s:
            reverse_transaction(s, kinds[kind], now=now, actor="finance", reason="try")
    with sessions.begin() as s:
        assert verify(s).ok
