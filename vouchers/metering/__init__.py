"""The billing side: electricity accounts that bill themselves.

Tariff assignment (:mod:`vouchers.metering.accounts`), meter readings
(:mod:`vouchers.metering.readings`), monthly billing posted to the books
(:mod:`vouchers.metering.billing`), money <-> kWh for prepaid customers
(:mod:`vouchers.metering.prepaid`), late fees (:mod:`vouchers.metering.late_fees`), remote cost
control (:mod:`vouchers.metering.cost_control`) and the collection analysis with its
early warnings (:mod:`vouchers.metering.collection`). See docs/metering.md.

Services take a SQLAlchemy ``Session`` (or, for runs that commit batch by
batch, a ``sessionmaker``) plus plain values and ``now``; they never read a
clock and never import ``issuer``, ``redeem_api`` or ``voucherctl``.
"""
