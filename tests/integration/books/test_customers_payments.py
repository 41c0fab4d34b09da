"""Customer accounts, bills, the allocation rule and channel payments."""
from __future__ import annotations

import datetime as dt

import pytest

from vouchers.books import chart, customers, payments
from vouchers.books.accounts import balance
from vouchers.books.corrections import reverse_payment, reverse_transaction
from vouchers.books.errors import (
    AccountExists,
    InvalidAccountData,
    InvalidPayment,
    PaymentConflict,
    ReversalNotAllowed,
    UnknownAccount,
    UnknownChannel,
)
from vouchers.books.verify import verify

D = dt.date


@pytest.fixture
def account(sessions, now):
    """Account 0101 with three open bills: 30.00 due Sep, 20.00 due Oct, 10.00 due Nov."""
    with sessions.begin() as s:
        customers.create_customer(s, "0101", "张三", meter_no="M-1", now=now)
        for ref, amount, due in (("2026-10", 2000, D(2026, 10, 25)), ("2026-09", 3000, D(2026, 9, 25)),
                                 ("2026-11", 1000, D(2026, 11, 25))):
            customers.issue_bill(s, "0101", amount, due_date=due, bill_ref=ref, now=now)
    return "0101"


def test_create_account_with_opening_arrears(sessions, now):
    with sessions.begin() as s:
        summary = customers.create_customer(s, "3100123456", "李四", meter_no="E-77", arrears=1234,
                                            arrears_due=D(2026, 11, 26), now=now)
    assert (summary.balance, summary.arrears, summary.meter_no) == (0, 1234, "E-77")
    assert [(b.bill_ref, b.outstanding) for b in summary.open_bills] == [("opening", 1234)]
    with sessions.begin() as s:
        assert balance(s, chart.REVENUE, "CNY") == -1234
        assert verify(s).ok


@pytest.mark.parametrize("kwargs, error", [
    ({"account_no": "", "name": "x"}, InvalidAccountData),
    ({"account_no": "01 01", "name": "x"}, InvalidAccountData),
    ({"account_no": "0101", "name": " "}, InvalidAccountData),
    ({"account_no": "0101", "name": "x", "arrears": -1, "arrears_due": D(2026, 1, 1)}, InvalidAccountData),
])
def test_bad_account_data_is_refused(sessions, now, kwargs, error):
    with pytest.raises(error):
        with sessions.begin() as s:
            customers.create_customer(s, now=now, **kwargs)


def test_an_account_number_is_unique(sessions, now, account):
    with pytest.raises(AccountExists):
        with sessions.begin() as s:
            customers.create_customer(s, account, "again", now=now)


def test_payment_pays_the_oldest_bill_first_and_the_rest_is_prepaid(sessions, now, account):
    with sessions.begin() as s:
        first = payments.post_payment(s, "bank_counter", account, 4000, "BC-1", now, now)
    assert (first.applied_to_arrears, first.credited_to_balance, first.balance) == (4000, 0, 0)
    with sessions.begin() as s:
        bills = {b.bill_ref: b.outstanding for b in customers.customer_summary(s, account).open_bills}
    assert bills == {"2026-10": 1000, "2026-11": 1000}  # September paid in full, October half
    with sessions.begin() as s:
        second = payments.post_payment(s, "alipay", account, 5000, "AP-1", now, now)
    assert (second.applied_to_arrears, second.credited_to_balance, second.balance) == (2000, 3000, 3000)
    with sessions.begin() as s:
        summary = customers.customer_summary(s, account)
        assert (summary.arrears, summary.balance, summary.open_bills) == (0, 3000, ())
        assert balance(s, chart.clearing("alipay"), "CNY") == 5000
        assert verify(s).ok


def test_a_new_bill_is_paid_from_prepaid_balance(sessions, now):
    with sessions.begin() as s:
        customers.create_customer(s, "0202", "王五", now=now)
        payments.post_payment(s, "wechat_pay", "0202", 5000, "WX-1", now, now)
        result = customers.issue_bill(s, "0202", 3000, due_date=D(2026, 12, 25), bill_ref="2026-12", now=now)
    assert result.applied_from_prepaid == 3000
    with sessions.begin() as s:
        summary = customers.customer_summary(s, "0202")
        assert (summary.balance, summary.arrears) == (2000, 0)
        assert verify(s).ok


def test_replaying_a_payment_returns_the_original_result(sessions, now, account):
    with sessions.begin() as s:
        original = payments.post_payment(s, "pos_card", account, 7000, "POS-9", now, now)
    with sessions.begin() as s:
        payments.post_payment(s, "pos_card", account, 100, "POS-10", now, now)
    with sessions.begin() as s:
        replay = payments.post_payment(s, "pos_card", account, 7000, "POS-9", now, now)
    assert replay == dataclass_replace(original, created=False)
    with sessions.begin() as s:
        assert balance(s, chart.clearing("pos_card"), "CNY") == 7100


def dataclass_replace(obj, **changes):
    import dataclasses

    return dataclasses.replace(obj, **changes)


def test_same_reference_with_another_amount_is_reported_not_booked(sessions, now, account):
    with sessions.begin() as s:
        payments.post_payment(s, "pos_card", account, 7000, "POS-9", now, now)
    with pytest.raises(PaymentConflict):
        with sessions.begin() as s:
            payments.post_payment(s, "pos_card", account, 7001, "POS-9", now, now)
    with sessions.begin() as s:
        customers.create_customer(s, "0303", "赵六", now=now)
    with pytest.raises(PaymentConflict):
        with sessions.begin() as s:
            payments.post_payment(s, "pos_card", "0303", 7000, "POS-9", now, now)
    with sessions.begin() as s:
        assert balance(s, chart.clearing("pos_card"), "CNY") == 7000
        assert verify(s).ok


def test_the_same_reference_on_another_channel_is_another_payment(sessions, now, account):
    with sessions.begin() as s:
        payments.post_payment(s, "pos_card", account, 100, "REF-1", now, now)
        payments.post_payment(s, "sms", account, 100, "REF-1", now, now)
        assert balance(s, chart.clearing("sms"), "CNY") == 100


@pytest.mark.parametrize("channel, account_no, amount, ref, error", [
    ("carrier_pigeon", "0101", 100, "X1", UnknownChannel),
    ("voucher", "0101", 100, "X1", UnknownChannel),
    ("alipay", "9999", 100, "X1", UnknownAccount),
    ("alipay", "0101", -100, "X1", InvalidPayment),
    ("alipay", "0101", 0, "X1", InvalidPayment),
    ("alipay", "0101", 1.5, "X1", InvalidPayment),
    ("alipay", "0101", 10**10 + 1, "X1", InvalidPayment),  # over the cap of 100,000,000.00 per payment
    ("alipay", "0101", 10**17, "X1", InvalidPayment),
    ("alipay", "0101", 100, "", InvalidPayment),
    ("alipay", "0101", 100, "a,b", InvalidPayment),
])
def test_bad_payments_are_refused_and_nothing_is_booked(sessions, now, account, channel, account_no, amount, ref,
                                                        error):
    with pytest.raises(error):
        with sessions.begin() as s:
            payments.post_payment(s, channel, account_no, amount, ref, now, now)
    with sessions.begin() as s:
        assert customers.customer_summary(s, account).arrears == 6000
        assert verify(s).ok


def test_a_naive_payment_time_is_refused(sessions, now, account):
    with pytest.raises(InvalidPayment):
        with sessions.begin() as s:
            payments.post_payment(s, "alipay", account, 100, "X1", dt.datetime(2026, 1, 1), now)


def test_reversing_a_payment_reopens_the_bills_it_paid(sessions, now, account):
    with sessions.begin() as s:
        paid = payments.post_payment(s, "counter_cash", account, 6500, "C-1", now, now)
    with sessions.begin() as s:
        reverse_transaction(s, payments.get_payment(s, "counter_cash", "C-1").transaction_id, now=now,
                            actor="finance", reason="counterfeit note")
    with sessions.begin() as s:
        summary = customers.customer_summary(s, account)
        assert (summary.arrears, summary.balance) == (6000, 0)
        assert [b.outstanding for b in summary.open_bills] == [3000, 2000, 1000]
        assert payments.get_payment(s, "counter_cash", "C-1").status == "reversed"
        assert verify(s).ok
    with pytest.raises(ReversalNotAllowed, match="already reversed"):
        with sessions.begin() as s:
            reverse_payment(s, paid.payment_id, now=now, actor="finance", reason="twice")
    with pytest.raises(PaymentConflict, match="reversed"):
        with sessions.begin() as s:
            payments.post_payment(s, "counter_cash", account, 6500, "C-1", now, now)
