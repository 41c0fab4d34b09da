"""Allowed state transitions of batches and vouchers (docs/domain.md "Lifecycle")."""
from __future__ import annotations

from vouchers.errors import LifecycleError

BATCH_TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"approved", "void"}),
    "approved": frozenset({"printed", "shipped", "void"}),
    "printed": frozenset({"shipped", "void"}),
    "shipped": frozenset({"closed", "void"}),
    "closed": frozenset(),
    "void": frozenset(),
}
VOUCHER_TRANSITIONS: dict[str, frozenset[str]] = {
    "inactive": frozenset({"active", "void"}),
    "active": frozenset({"redeemed", "expired", "void"}),
    "redeemed": frozenset(),
    "expired": frozenset(),
    "void": frozenset(),
}
# Batches whose cards may be printed, exported or activated (approved stock).
ISSUED_BATCH_STATES = frozenset({"approved", "printed", "shipped"})


def check_batch_transition(current: str, target: str) -> None:
    if target not in BATCH_TRANSITIONS.get(current, frozenset()):
        raise LifecycleError(f"batch cannot go from {current} to {target}")


def check_voucher_transition(current: str, target: str) -> None:
    if target not in VOUCHER_TRANSITIONS.get(current, frozenset()):
        raise LifecycleError(f"voucher cannot go from {current} to {target}")
