"""Activation, redemption, expiry and void as the books see them."""
from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import func, select, update

from vouchers.books import chart, customers, distributors, voucher_books
from vouchers.books.accounts import balance, normal_balance
from vouchers.books.errors import (
    ActivationError,
    BatchNotFound,
    CurrencyMismatch,
    InvalidExpiryDate,
    RedemptionBookingError,
    UnknownAccount,
)
from vouchers.books.verify import verify
from vouchers.storage.models import AuditEvent, Batch, Voucher

from .conftest import voucher_id

D = dt.date


def _statuses(session, batch) -> dict[str, int]:
    return dict(session.execute(select(Voucher.status, func.count()).where(Voucher.batch_pk == batch.pk)
                                .group_by(Voucher.status)).all())


def test_activating_a_range_books_the_sale(sessions, now, stock):
    batch = stock(count=20, face_value=5000)
    with sessions.begin() as s:
        distributors.set_commission(s, "SHOP-7", 250, now=now, actor="marketing")  # 2.5 %
        result = voucher_books.activate(s, batch.batch_id, "SHOP-7", batch.serial(3), batch.serial(12),
                                        now=now, actor="SHOP-7")
    assert (result.count, result.face_total, result.commission_total, result.receivable) == (10, 50000, 1250, 48750)
    with sessions.begin() as s:
        assert _statuses(s, batch) == {"active": 10, "inactive": 10}
        assert normal_balance(s, chart.VOUCHER_LIABILITY, "CNY") == 50000
        assert balance(s, chart.distributor("SHOP-7"), "CNY") == 48750
        assert balance(s, chart.COMMISSION, "CNY") == 1250
        events = s.execute(select(AuditEvent).where(AuditEvent.action == "voucher.activate")).scalars().all()
        assert len(events) == 1 and '"count": 10' in events[0].details
        assert verify(s).ok


def test_commission_rounds_half_up_per_card():
    assert distributors.commission_for(5000, 250) == 125
    assert distributors.commission_for(1, 5000) == 1
    assert distributors.commission_for(3, 1666) == 0
    assert distributors.parse_rate("2.5%") == 250
    assert distributors.parse_rate("0") == 0


def test_a_card_activates_only_once_and_overlaps_change_nothing(sessions, now, stock):
    batch = stock(count=10)
    with sessions.begin() as s:
        voucher_books.activate(s, batch.batch_id, "D1", batch.serial(1), batch.serial(5), now=now, actor="D1")
    with pytest.raises(ActivationError, match="not inactive"):
        with sessions.begin() as s:
            voucher_books.activate(s, batch.batch_id, "D2", batch.serial(4), batch.serial(8), now=now, actor="D2")
    with pytest.raises(ActivationError, match="not inactive"):
        with sessions.begin() as s:
            voucher_books.activate(s, batch.batch_id, "D1", now=now, actor="D1")
    with sessions.begin() as s:
        assert _statuses(s, batch) == {"active": 5, "inactive": 5}
        assert normal_balance(s, chart.VOUCHER_LIABILITY, "CNY") == 5 * batch.face_value
        assert verify(s).ok


@pytest.mark.parametrize("status", ["draft", "void", "closed"])
def test_only_approved_stock_activates(sessions, now, stock, status):
    batch = stock(count=3, status=status)
    with pytest.raises(ActivationError, match=status):
        with sessions.begin() as s:
            voucher_books.activate(s, batch.batch_id, "D1", now=now, actor="D1")


def test_bad_ranges_are_refused(sessions, now, stock):
    batch, other = stock(count=5), stock(count=5)
    cases = [(batch.serial(1), None), (batch.serial(4), batch.serial(2)), (other.serial(1), other.serial(2)),
             ("0100000100000010", batch.serial(2))]
    for first, last in cases:
        with pytest.raises(ActivationError):
            with sessions.begin() as s:
                voucher_books.activate(s, batch.batch_id, "D1", first, last, now=now, actor="D1")
    with pytest.raises(BatchNotFound):
        with sessions.begin() as s:
            voucher_books.activate(s, "B01-999999", "D1", now=now, actor="D1")


def _sell_and_claim(sessions, now, batch, sequence: int = 1) -> int:
    with sessions.begin() as s:
        vid = voucher_id(s, batch, sequence)
        assert voucher_books.claim_for_redemption(s, vid, today=now.date(), now=now)
    return vid


def test_redemption_pays_arrears_first_then_prepaid(sessions, now, stock):
    batch = stock(count=3, face_value=10000)
    with sessions.begin() as s:
        customers.create_customer(s, "0101", "张三", arrears=3500, arrears_due=D(2026, 10, 1), now=now)
        voucher_books.activate(s, batch.batch_id, "D1", now=now, actor="D1")
    vid = _sell_and_claim(sessions, now, batch)
    with sessions.begin() as s:
        booking = voucher_books.redeem_voucher(s, vid, "0101", now=now)
    assert (booking.amount, booking.applied_to_arrears, booking.credited_to_balance, booking.balance) == \
        (10000, 3500, 6500, 6500)
    with sessions.begin() as s:
        assert normal_balance(s, chart.VOUCHER_LIABILITY, "CNY") == 20000
        again = voucher_books.redeem_voucher(s, s.get(Voucher, vid), "0101", now=now)
        assert again.transaction_id == booking.transaction_id and not again.created
        assert normal_balance(s, chart.VOUCHER_LIABILITY, "CNY") == 20000
        assert verify(s).ok


def test_redemption_booking_refuses_unclaimed_or_foreign_cases(sessions, now, stock):
    batch = stock(count=3)
    usd = stock(count=1, currency="USD")
    with sessions.begin() as s:
        customers.create_customer(s, "0101", "张三", now=now)
        customers.create_customer(s, "0102", "李四", now=now)
        voucher_books.activate(s, batch.batch_id, "D1", now=now, actor="D1")
        voucher_books.activate(s, usd.batch_id, "D1", now=now, actor="D1")
    with pytest.raises(RedemptionBookingError, match="claim it"):  # still active: the caller must claim first
        with sessions.begin() as s:
            voucher_books.redeem_voucher(s, voucher_id(s, batch, 2), "0101", now=now)
    vid = _sell_and_claim(sessions, now, batch)
    with pytest.raises(UnknownAccount):
        with sessions.begin() as s:
            voucher_books.redeem_voucher(s, vid, "0999", now=now)
    with sessions.begin() as s:
        voucher_books.redeem_voucher(s, vid, "0101", now=now)
    with pytest.raises(RedemptionBookingError, match="another account"):
        with sessions.begin() as s:
            voucher_books.redeem_voucher(s, vid, "0102", now=now)
    usd_id = _sell_and_claim(sessions, now, usd)
    with pytest.raises(CurrencyMismatch):
        with sessions.begin() as s:
            voucher_books.redeem_voucher(s, usd_id, "0101", now=now)
    with sessions.begin() as s:
        assert voucher_books.claim_for_redemption(s, vid, today=now.date(), now=now) is False


def test_expired_card_cannot_be_claimed(sessions, now, stock):
    batch = stock(count=1, expires=D(2026, 11, 25))
    with sessions.begin() as s:
        voucher_books.activate(s, batch.batch_id, "D1", now=now, actor="D1")
        assert not voucher_books.claim_for_redemption(s, voucher_id(s, batch, 1), today=D(2026, 11, 26), now=now)
        assert voucher_books.claim_for_redemption(s, voucher_id(s, batch, 1), today=D(2026, 11, 25), now=now)


def test_expiry_moves_unredeemed_liability_to_breakage(sessions, now, stock):
    old = stock(count=4, face_value=2000, expires=D(2026, 11, 25))
    last_day_today = stock(count=2, face_value=3000, expires=D(2026, 11, 26))
    with sessions.begin() as s:
        customers.create_customer(s, "0101", "张三", now=now)
        voucher_books.activate(s, old.batch_id, "D1", now=now, actor="D1")
        voucher_books.activate(s, last_day_today.batch_id, "D1", now=now, actor="D1")
    with sessions.begin() as s:
        vid = voucher_id(s, old, 1)
        assert voucher_books.claim_for_redemption(s, vid, today=D(2026, 11, 25), now=now)
        voucher_books.redeem_voucher(s, vid, "0101", now=now)
    with sessions.begin() as s:
        result = voucher_books.expire_vouchers(s, D(2026, 11, 26), now)
    assert (result.count, result.amounts, result.by_batch) == (3, {"CNY": 6000}, {old.batch_id: 3})
    with sessions.begin() as s:
        assert _statuses(s, old) == {"expired": 3, "redeemed": 1}
        assert _statuses(s, last_day_today) == {"active": 2}
        assert normal_balance(s, chart.BREAKAGE, "CNY") == 6000
        assert normal_balance(s, chart.VOUCHER_LIABILITY, "CNY") == 6000
        assert voucher_books.expire_vouchers(s, D(2026, 11, 26), now).count == 0
        assert verify(s, today=D(2026, 11, 26)).ok


def test_voiding_activated_stock_reverses_the_sale(sessions, now, stock):
    batch = stock(count=10, face_value=10000)
    with sessions.begin() as s:
        customers.create_customer(s, "0101", "张三", now=now)
        distributors.set_commission(s, "D1", 300, now=now, actor="marketing")
        voucher_books.activate(s, batch.batch_id, "D1", batch.serial(1), batch.serial(4), now=now, actor="D1")
        distributors.set_commission(s, "D2", 0, now=now, actor="marketing")
        voucher_books.activate(s, batch.batch_id, "D2", batch.serial(5), batch.serial(6), now=now, actor="D2")
    vid = _sell_and_claim(sessions, now, batch, 1)
    with sessions.begin() as s:
        voucher_books.redeem_voucher(s, vid, "0101", now=now)
    with sessions.begin() as s:  # what the issuer's `batch void` does: books first, then statuses
        result = voucher_books.reverse_liability_for_void(s, batch.pk, now, actor="ops")
        s.execute(update(Voucher).where(Voucher.batch_pk == batch.pk, Voucher.status.in_(("inactive", "active")))
                  .values(status="void"))
        s.execute(update(Batch).where(Batch.id == batch.pk).values(status="void"))
    assert (result.count, result.face_total, result.commission_total) == (5, 50000, 900)
    with sessions.begin() as s:
        assert normal_balance(s, chart.VOUCHER_LIABILITY, "CNY") == 0
        assert balance(s, chart.distributor("D1"), "CNY") == 9700  # one sold card stays owed
        assert balance(s, chart.distributor("D2"), "CNY") == 0
        assert balance(s, chart.COMMISSION, "CNY") == 300
        assert voucher_books.reverse_liability_for_void(s, batch.pk, now).count == 0
        assert verify(s).ok


def test_void_booked_after_the_status_change_is_still_caught(sessions, now, stock):
    batch = stock(count=3)
    with sessions.begin() as s:
        voucher_books.activate(s, batch.batch_id, "D1", now=now, actor="D1")
        s.execute(update(Voucher).where(Voucher.batch_pk == batch.pk).values(status="void"))
        assert not verify(s).ok  # liability without active cards
        assert voucher_books.reverse_liability_for_void(s, batch.pk, now).count == 3
        assert verify(s).ok


def test_activating_a_large_range_is_one_statement_fast(sessions, now, stock):
    batch = stock(count=20_000, face_value=5000)
    started = time.perf_counter()
    with sessions.begin() as s:
        result = voucher_books.activate(s, batch.batch_id, "D1", now=now, actor="D1")
    elapsed = time.perf_counter() - started
    assert result.count == 20_000
    assert elapsed < 5, f"activation of 20,000 cards took {elapsed:.1f}s"
    with sessions.begin() as s:
        assert verify(s).ok


def test_expiry_as_of_a_future_day_is_refused(sessions, now, stock):
    batch = stock(count=3, face_value=1000, expires=D(2026, 11, 26))
    with sessions.begin() as s:
        voucher_books.activate(s, batch.batch_id, "D1", now=now, actor="D1")
    late = dt.datetime(2026, 11, 26, 20, tzinfo=dt.timezone.utc)  # the 27th in Beijing, still the 26th in UTC
    with sessions.begin() as s:
        with pytest.raises(InvalidExpiryDate, match="in the future"):
            voucher_books.expire_vouchers(s, D(2026, 11, 28), late)
        with pytest.raises(InvalidExpiryDate):
            voucher_books.expire_vouchers(s, D(2026, 11, 27), late, tz="UTC")
        assert _statuses(s, batch) == {"active": 3}
        assert voucher_books.expire_vouchers(s, D(2026, 11, 27), late).count == 3
