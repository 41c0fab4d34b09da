"""What the money services need from outside the database, built once by each edge.

The web app builds it in ``create_app``, the CLI per command in
``voucherctl.context``; services receive it as an argument and never look it up.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from vouchers.metering.config import MeteringConfig
from vouchers.services.fraud_config import FraudConfig
from vouchers.sts.backend import VendingBackend
from vouchers.tariffs import Catalog


@dataclass(frozen=True)
class ServiceDeps:
    """The tariff catalogue, the metering settings and the STS vending backend."""

    catalog: Catalog
    metering: MeteringConfig
    # Called only when a keypad meter needs a token: building it may need the key-store passphrase,
    # which an account without a meter must never require.
    vending: Callable[[], VendingBackend]
    fraud: FraudConfig = FraudConfig()  # the fraud rules' thresholds and actions


def built_once(build: Callable[[], VendingBackend]) -> Callable[[], VendingBackend]:
    """``build`` run on the first call only (thread-safe), for a backend that is costly or may fail."""
    lock = threading.Lock()
    made: list[VendingBackend] = []

    def get() -> VendingBackend:
        if not made:
            with lock:
                if not made:
                    made.append(build())
        return made[0]

    return get
