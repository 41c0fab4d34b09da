"""The billing side: electricity accounts that bill themselves.

Tariff assignment (:mod:`metering.accounts`), meter readings
(:mod:`metering.readings`), monthly billing posted to the books
(:mod:`metering.billing`), money <-> kWh for prepaid customers
(:mod:`metering.prepaid`), late fees (:mod:`metering.late_fees`), remote cost
control (:mod:`metering.cost_control`) and the collection analysis with its
early warnings (:mod:`metering.collection`). See docs/metering.md.

Services take a SQLAlchemy ``Session`` (or, for runs that commit batch by
batch, a ``sessionmaker``) plus plain values and ``now``; they never read a
clock and never import ``issuer``, ``redeem_api`` or ``voucherctl``.
"""
