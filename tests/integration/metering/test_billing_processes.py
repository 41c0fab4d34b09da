"""Billing in worker processes (PostgreSQL, more than one batch) and the ledger's page fill."""
from __future__ import annotations

import dataclasses
import datetime as dt
import os

from concurrent.futures.process import BrokenProcessPool

import pytest
from sqlalchemy import func, select, text

from vouchers.metering import billing
from vouchers.metering import positions as pos
from vouchers.storage.metering_models import BillingRun, MeteringBill
from vouchers.tariffs import Catalog
from tests.integration.metering.conftest import World, at
from tests.integration.metering.test_billing import _population, _revenue, _verify


class _BrokenCatalog(Catalog):
    """A catalog that fails outright (not a tariff error: the run must stop). Module level, so a
    worker process can unpickle it."""

    def get(self, tariff_id: str):  # type: ignore[no-untyped-def]
        raise RuntimeError("catalog unavailable")


class _DyingCatalog(Catalog):
    """A worker process that uses it ends abruptly (as if killed)."""

    def get(self, tariff_id: str):  # type: ignore[no-untyped-def]
        os._exit(3)


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = billing._run_in_processes

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(kwargs["workers"])
        return real(*args, **kwargs)

    monkeypatch.setattr(billing, "_run_in_processes", spy)
    return calls


def _dialect(world: World) -> str:
    return world.sessions.kw["bind"].dialect.name


def test_a_run_of_several_batches_is_billed_in_worker_processes_on_postgresql(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    _population(world, 9)
    world.config = dataclasses.replace(world.config, batch_size=2, billing_workers=2)
    calls = _spy(monkeypatch)
    batches: list[billing.BatchResult] = []
    result = billing.run_billing(world.sessions, "2026-10", as_of=dt.date(2026, 10, 31), now=at("2026-10-31", 18),
                                 catalog=world.catalog, config=world.config, on_batch=batches.append)
    assert calls == ([2] if _dialect(world) == "postgresql" else [])
    assert result.billed == 9 and result.batches == 5 == len(batches)
    assert sum(b.billed for b in batches) == 9
    with world.sessions.begin() as s:
        stored = s.execute(select(func.count(), func.sum(MeteringBill.total_fen))).one()
        run = s.execute(select(BillingRun)).scalar_one()
    assert tuple(stored) == (9, result.total_fen) and result.total_fen == _revenue(world) > 0
    assert (run.status, run.accounts_billed, run.batches, run.total_fen) == ("finished", 9, 5, result.total_fen)
    _verify(world)


def test_a_single_batch_and_an_account_list_stay_in_this_process(world: World,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    accounts = _population(world, 4)
    world.config = dataclasses.replace(world.config, batch_size=5, billing_workers=2)
    calls = _spy(monkeypatch)
    assert world.bill("2026-10", "2026-10-31", accounts=accounts[:1]).billed == 1
    assert world.bill("2026-10", "2026-10-31").billed == 3  # the other three: one batch
    assert calls == []
    _verify(world)


def test_a_failing_worker_fails_the_run(world: World) -> None:
    _population(world, 6)
    world.config = dataclasses.replace(world.config, batch_size=2, billing_workers=2)
    world.catalog = _BrokenCatalog(world.catalog.tariffs, world.catalog.late_fees, world.catalog.origin)
    with pytest.raises(RuntimeError, match="catalog unavailable"):
        world.bill("2026-10", "2026-10-31")
    with world.sessions.begin() as s:
        assert s.execute(select(BillingRun.status)).scalar_one() == "failed"
        assert s.execute(select(func.count()).select_from(MeteringBill)).scalar_one() == 0
    _verify(world)


def test_a_worker_that_dies_fails_the_run_instead_of_hanging(world: World) -> None:
    _population(world, 6)
    world.config = dataclasses.replace(world.config, batch_size=2, billing_workers=2)
    world.catalog = _DyingCatalog(world.catalog.tariffs, world.catalog.late_fees, world.catalog.origin)
    if _dialect(world) != "postgresql":
        pytest.skip("SQLite bills in this process")
    with pytest.raises(BrokenProcessPool):
        world.bill("2026-10", "2026-10-31")
    with world.sessions.begin() as s:
        assert s.execute(select(BillingRun.status)).scalar_one() == "failed"
        assert s.execute(select(func.count()).select_from(MeteringBill)).scalar_one() == 0


def test_ranges_cover_every_account_once_and_stay_open_at_the_end(world: World) -> None:
    accounts = _population(world, 5)
    ranges = list(billing._ranges(world.sessions, 2))
    assert ranges == [(1, None, accounts[1]), (2, accounts[1], accounts[3]), (3, accounts[3], None)]
    world.customer("C999", opening=("2026-10-01", "0"))  # added behind the walk: in the open last range
    with world.sessions.begin() as s:
        found = [p.account_no for _, after, upto in ranges
                 for p in pos.select_accounts(s, after=after, upto=upto)]
    assert found == [*accounts, "C999"]


def test_ledger_account_pages_keep_room_for_balance_updates(world: World) -> None:
    if _dialect(world) != "postgresql":
        pytest.skip("fillfactor is PostgreSQL's")
    with world.sessions.begin() as s:
        options = s.execute(text("SELECT reloptions FROM pg_class WHERE relname = 'ledger_accounts'")).scalar_one()
    assert "fillfactor=60" in (options or [])


@pytest.mark.parametrize("workers", [1, 2])
def test_batches_report_every_account_they_went_through(world: World, workers: int) -> None:
    """The progress of a run (voucherctl billing run's bar): each account once, billed or not, on a rerun too."""
    _population(world, 7)
    world.customer("N001", opening=None)  # assigned, nothing read: no bill, still gone through
    world.sts_meter("C001", "07123456789")  # a keypad meter: skipped, still gone through
    world.config = dataclasses.replace(world.config, batch_size=2, billing_workers=workers)
    with world.sessions.begin() as s:
        total = billing.accounts_to_bill(s)
        assert billing.accounts_to_bill(s, ["C000", "C002", "C000", "nobody"]) == 2
    assert total == 8
    for _ in range(2):  # the second run bills nothing: every account was billed before
        batches: list[billing.BatchResult] = []
        billing.run_billing(world.sessions, "2026-10", as_of=dt.date(2026, 10, 31), now=at("2026-10-31", 18),
                            catalog=world.catalog, config=world.config, on_batch=batches.append)
        assert sum(b.accounts for b in batches) == total
