"""The set of tariffs (and late-fee rules) loaded from one data directory."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from vouchers.tariffs.errors import NoLateFeeSchedule, UnknownTariff
from vouchers.tariffs.late_fees import LateFeeSchedule
from vouchers.tariffs.model import Tariff


@dataclass(frozen=True, slots=True)
class Catalog:
    tariffs: tuple[Tariff, ...]  # sorted by id, ids unique
    late_fees: LateFeeSchedule | None = None
    origin: str = ""  # where the data came from, for messages

    def ids(self) -> tuple[str, ...]:
        return tuple(t.id for t in self.tariffs)

    def get(self, tariff_id: str) -> Tariff:
        for tariff in self.tariffs:
            if tariff.id == tariff_id:
                return tariff
        raise UnknownTariff(f"unknown tariff {tariff_id!r} (known: {', '.join(self.ids())})")

    def require_late_fees(self) -> LateFeeSchedule:
        if self.late_fees is None:
            raise NoLateFeeSchedule(f"no late-fee rules (a late-fee/1 file) in {self.origin or 'the catalog'}")
        return self.late_fees

    def __contains__(self, tariff_id: object) -> bool:
        return any(t.id == tariff_id for t in self.tariffs)

    def __iter__(self) -> Iterator[Tariff]:
        return iter(self.tariffs)

    def __len__(self) -> int:
        return len(self.tariffs)
