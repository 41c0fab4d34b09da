"""Garbage-collector settings for processes that do bulk database work.

A billing batch allocates hundreds of thousands of short-lived tuples and
rows that reference counting frees. With CPython's default thresholds (700 allocations) the cyclic
collector runs every few hundred rows, and each run also walks the
long-lived objects a process keeps (imported modules, SQLAlchemy's mappers,
the tariff catalogue): measured on the billing benchmark, a third of a
worker's CPU time. Freezing what exists after start-up moves it out of every
collection, and a larger first threshold lets the collector run a few times
per batch instead of a few hundred. Cycles are still collected (less often),
so memory stays bounded.

Call it only in a process of our own whose work is bulk (the billing
workers), never from a library function running in someone else's process.
Measure first: under gunicorn the same settings left the redemption rate
unchanged and slowed the bare echo route (docs/benchmarks.md, "Billing"), and
a payments import is bound by the database, not by the collector.
"""
from __future__ import annotations

import gc

# generation 0: collect after this many net container allocations (default 700)
BULK_THRESHOLDS = (100_000, 50, 100)


def tune_for_bulk_work(thresholds: tuple[int, int, int] = BULK_THRESHOLDS) -> None:
    """Freeze the objects alive now (start-up state) and raise the collection thresholds."""
    gc.collect()  # what start-up left as garbage goes now, not into the frozen generation
    gc.freeze()
    gc.set_threshold(*thresholds)


__all__ = ["BULK_THRESHOLDS", "tune_for_bulk_work"]
