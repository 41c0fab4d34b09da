"""Garbage-collector settings for processes that do bulk database work.

A billing batch (or a payment file, or a stream of requests) allocates
hundreds of thousands of short-lived tuples and rows that reference counting
frees. With CPython's default thresholds (700 allocations) the cyclic
collector runs every few hundred rows, and each run also walks the
long-lived objects a process keeps (imported modules, SQLAlchemy's mappers,
the tariff catalogue): measured on the billing benchmark, a third of a
worker's CPU time. Freezing what exists after start-up moves it out of every
collection, and a larger first threshold lets the collector run a few times
per batch instead of a few hundred. Cycles are still collected (less often),
so memory stays bounded.

Call it only in processes this package owns (billing workers, the CLI's
bulk commands, server workers after start-up), never from a library
function running in someone else's process.
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
