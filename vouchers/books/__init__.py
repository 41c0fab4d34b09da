"""The books: double-entry ledger, payment channels, reconciliation, reports.

Services take a SQLAlchemy ``Session`` plus plain values and ``now``; they
never read a clock, never commit (the caller owns the transaction) and never
import ``issuer``, ``redeem_api`` or ``voucherctl``.

The entry points other packages call:

- :func:`ledger.voucher_books.activate`, :func:`ledger.voucher_books.redeem_voucher`,
  :func:`ledger.voucher_books.expire_vouchers`,
  :func:`ledger.voucher_books.reverse_liability_for_void`
- :func:`ledger.payments.post_payment`, :func:`ledger.customers.create_customer`,
  :func:`ledger.customers.customer_summary`
- :func:`ledger.verify.verify`
"""
