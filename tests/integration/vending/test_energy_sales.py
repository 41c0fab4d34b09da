"""The books of a vend: Dr customer_prepaid / Cr revenue in the vend's transaction (SQLite and PostgreSQL)."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from vouchers.books import chart, journal
from vouchers.books.accounts import balance
from vouchers.books.customers import customer_summary
from vouchers.books.energy_sales import (
    KIND,
    SOURCE,
    InsufficientPrepaid,
    book_energy_sale,
    reverse_energy_sale,
)
from vouchers.books.errors import IdempotencyConflict, ReversalNotAllowed
from vouchers.books.payments import post_payment
from vouchers.books.verify import verify
from vouchers.storage.ledger_models import LedgerTransaction
from vouchers.storage.sts_models import StsMeter, StsVend
from tests.integration.vending.conftest import ACCOUNT, CATALOG, PAN, VendWorld, at
from vouchers.vending.errors import VendingError
from vouchers.vending.service import energy_sale_ref, vend_for_credit

NOW = at("2026-11-26", 10)


def _state(world: VendWorld) -> tuple[int, int, int, int, int | None]:
    """(prepaid balance, revenue, energy sales, vends, meter's last TID)."""
    with world.sessions.begin() as s:
        prepaid = customer_summary(s, ACCOUNT).balance
        revenue = chart.normal_balance(chart.REVENUE, balance(s, chart.REVENUE, "CNY"))
        sales = s.execute(select(func.count()).where(LedgerTransaction.kind == KIND)).scalar_one()
        vends = s.execute(select(func.count()).select_from(StsVend)).scalar_one()
        last_tid = s.get(StsMeter, PAN).last_tid
    return prepaid, revenue, sales, vends, last_tid


def _verify_ok(world: VendWorld) -> None:
    with world.sessions.begin() as s:
        report = verify(s, today=NOW.date())
    assert report.ok, report.as_dict()


def test_a_counter_sale_moves_the_money_from_prepaid_to_revenue(vw: VendWorld) -> None:
    with vw.sessions.begin() as s:
        payment = post_payment(s, "counter_cash", ACCOUNT, 12_345, "SALE1", NOW, NOW)
        assert payment.credited_to_balance == 12_345
        result = vend_for_credit(s, ACCOUNT, payment.credited_to_balance, NOW, vw.backend(), catalog=CATALOG,
                                 source="payment", source_ref=str(payment.payment_id))
    prepaid, revenue, sales, vends, _ = _state(vw)
    assert (prepaid, revenue, sales, vends) == (0, 12_345, 1, 1)
    assert result.transaction_id is not None
    with vw.sessions.begin() as s:
        txn = journal.get(s, result.transaction_id)
        assert (txn.kind, txn.source, txn.external_ref) == (KIND, SOURCE, energy_sale_ref(result.vend_id))
        assert set(journal.transaction_legs(s, txn.id)) == {
            journal.debit(chart.customer_prepaid(ACCOUNT), 12_345, "CNY"),
            journal.credit(chart.REVENUE, 12_345, "CNY")}
        assert s.get(StsVend, result.vend_id).ledger_transaction_id == txn.id
    _verify_ok(vw)


def test_only_the_vended_money_leaves_the_balance(vw: VendWorld) -> None:
    with vw.sessions.begin() as s:
        post_payment(s, "alipay", ACCOUNT, 50_000, "BIG1", NOW, NOW)
        vend_for_credit(s, ACCOUNT, 20_000, NOW, vw.backend(), catalog=CATALOG)
    assert _state(vw)[:3] == (30_000, 20_000, 1)
    _verify_ok(vw)


def test_replayed_vend_books_nothing_twice(vw: VendWorld) -> None:
    for _ in range(2):
        with vw.sessions.begin() as s:
            payment = post_payment(s, "counter_cash", ACCOUNT, 3_000, "SAME", NOW, NOW)
            result = vend_for_credit(s, ACCOUNT, payment.credited_to_balance, NOW, vw.backend(), catalog=CATALOG,
                                     source="payment", source_ref=str(payment.payment_id))
    assert result.replayed
    assert _state(vw)[:4] == (0, 3_000, 1, 1)
    with vw.sessions.begin() as s:  # the posting itself is idempotent by (source, external_ref)
        again = book_energy_sale(s, ACCOUNT, 3_000, external_ref=energy_sale_ref(result.vend_id), occurred_at=NOW,
                                 now=NOW)
        assert again.transaction_id == result.transaction_id and not again.created
        with pytest.raises(IdempotencyConflict):
            book_energy_sale(s, ACCOUNT, 2_999, external_ref=energy_sale_ref(result.vend_id), occurred_at=NOW,
                             now=NOW)
    assert _state(vw)[:3] == (0, 3_000, 1)
    _verify_ok(vw)


def test_a_vend_the_balance_does_not_cover_is_refused_and_moves_nothing(vw: VendWorld) -> None:
    with vw.sessions.begin() as s:
        post_payment(s, "counter_cash", ACCOUNT, 1_000, "SMALL", NOW, NOW)
    before = _state(vw)
    with pytest.raises(VendingError) as info, vw.sessions.begin() as s:
        vend_for_credit(s, ACCOUNT, 1_001, NOW, vw.backend(), catalog=CATALOG)
    assert info.value.code == "sts_insufficient_balance"
    assert _state(vw) == before == (1_000, 0, 0, 0, None)  # no token, no TID, no posting
    with pytest.raises(InsufficientPrepaid), vw.sessions.begin() as s:
        book_energy_sale(s, ACCOUNT, 1_001, external_ref="direct", occurred_at=NOW, now=NOW)


def test_a_refused_vend_rolls_back_the_payment_and_the_sale(vw: VendWorld) -> None:
    with vw.sessions.begin() as s:
        s.get(StsMeter, PAN).ken = 10  # a 2026 TID is far past this key's expiry
    before = _state(vw)
    with pytest.raises(VendingError) as info, vw.sessions.begin() as s:
        post_payment(s, "counter_cash", ACCOUNT, 8_000, "KEN", NOW, NOW)
        vend_for_credit(s, ACCOUNT, 8_000, NOW, vw.backend(), catalog=CATALOG)
    assert info.value.code == "sts_key_expired"
    assert _state(vw) == before == (0, 0, 0, 0, None)
    _verify_ok(vw)


def test_an_energy_sale_is_reversed_once_by_its_mirror(vw: VendWorld) -> None:
    with vw.sessions.begin() as s:
        post_payment(s, "counter_cash", ACCOUNT, 4_000, "REV", NOW, NOW)
        result = vend_for_credit(s, ACCOUNT, 4_000, NOW, vw.backend(), catalog=CATALOG)
    later = NOW + dt.timedelta(hours=1)
    with vw.sessions.begin() as s:
        posted = reverse_energy_sale(s, result.transaction_id, now=later, actor="finance",
                                     reason="token never entered; refund")
        mirror = journal.get(s, posted.transaction_id)
        assert (mirror.kind, mirror.reverses_id) == ("reversal", result.transaction_id)
    assert _state(vw)[:2] == (4_000, 0)  # back on the prepaid balance
    _verify_ok(vw)
    with pytest.raises(ReversalNotAllowed), vw.sessions.begin() as s:
        reverse_energy_sale(s, result.transaction_id, now=later, actor="finance", reason="again")
    with vw.sessions.begin() as s:
        payment_txn = s.execute(select(LedgerTransaction.id).where(LedgerTransaction.kind == "payment")
                                ).scalars().first()
    with pytest.raises(ReversalNotAllowed), vw.sessions.begin() as s:
        reverse_energy_sale(s, payment_txn, now=later, actor="finance", reason="not a sale")
    assert _state(vw)[:2] == (4_000, 0)
