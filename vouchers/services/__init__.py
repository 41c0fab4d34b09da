"""Use cases that change money, shared by every edge (the web API, the CLI).

Unlike the rest of :mod:`vouchers` (the pure core), these modules reach the
database, the books, metering and vending. Each is a set of plain functions:
a session, plain values and ``now`` in; a dataclass out, or a narrow domain
error. Nothing here reads the clock, Flask or the environment: the edges
build the dependencies once (:class:`vouchers.services.deps.ServiceDeps`) and
pass them in.
"""
