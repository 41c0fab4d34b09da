"""How incoming money is split: arrears first, oldest bill first, the rest prepaid.

Pure: works on plain values so the rule is tested without a database. The
same rule, written set-based in SQL for bulk imports, lives in
:mod:`vouchers.books.imports`; tests hold the two to the same answers.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from vouchers.books.errors import InvalidPayment


@dataclass(frozen=True, slots=True)
class OpenBill:
    bill_id: int
    due_date: dt.date
    outstanding: int


@dataclass(frozen=True)
class Allocation:
    amount: int
    to_bills: tuple[tuple[int, int], ...]  # (bill_id, amount), oldest first

    @property
    def to_arrears(self) -> int:
        return sum(part for _, part in self.to_bills)

    @property
    def to_prepaid(self) -> int:
        return self.amount - self.to_arrears


def oldest_first(bills: Iterable[OpenBill]) -> list[OpenBill]:
    """Oldest due date first; bills due the same day in the order they were issued (id)."""
    return sorted(bills, key=lambda b: (b.due_date, b.bill_id))


def allocate(amount: int, bills: Iterable[OpenBill]) -> Allocation:
    """Split ``amount`` (minor units, > 0) over the open bills, the rest to prepaid."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise InvalidPayment("amount must be a positive integer of minor units")
    left = amount
    parts: list[tuple[int, int]] = []
    for bill in oldest_first(bills):
        if left == 0:
            break
        if bill.outstanding <= 0:
            continue
        part = min(left, bill.outstanding)
        parts.append((bill.bill_id, part))
        left -= part
    return Allocation(amount, tuple(parts))


def allocate_many(amounts: Iterable[int], bills: Iterable[OpenBill]) -> list[Allocation]:
    """Allocate several payments of one customer in order, each seeing what the previous left."""
    remaining = {b.bill_id: b for b in bills}
    result = []
    for amount in amounts:
        allocation = allocate(amount, remaining.values())
        for bill_id, part in allocation.to_bills:
            bill = remaining[bill_id]
            remaining[bill_id] = OpenBill(bill.bill_id, bill.due_date, bill.outstanding - part)
        result.append(allocation)
    return result
