"""The books: double-entry ledger, payment channels, reconciliation, reports.

Services take a SQLAlchemy ``Session`` plus plain values and ``now``; they
never read a clock, never commit (the caller owns the transaction) and never
import ``issuer``, ``redeem_api`` or ``voucherctl``.

The entry points other packages call:

- :func:`vouchers.books.voucher_books.activate`, :func:`vouchers.books.voucher_books.redeem_voucher`,
  :func:`vouchers.books.voucher_books.expire_vouchers`,
  :func:`vouchers.books.voucher_books.reverse_liability_for_void`
- :func:`vouchers.books.payments.post_payment`, :func:`vouchers.books.customers.create_customer`,
  :func:`vouchers.books.customers.customer_summary`
- :func:`vouchers.books.verify.verify`
"""
