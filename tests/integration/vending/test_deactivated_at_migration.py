"""Migration 0012: ``sts_meters.deactivated_at``, backfilled for meters deactivated before it."""
from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, text

from vouchers.storage.migrate import _config, upgrade_to_head
from vouchers.storage.sts_models import StsMeter
from tests.integration.vending.conftest import PAN, VendWorld, at
from vouchers.vending.meters import deactivate_meter


def _columns(engine) -> set[str]:  # type: ignore[no-untyped-def]
    return {c["name"] for c in inspect(engine).get_columns("sts_meters")}


def test_down_and_up_again_backfills_inactive_meters(vw: VendWorld, engine) -> None:  # type: ignore[no-untyped-def]
    with vw.sessions.begin() as s:
        deactivate_meter(s, PAN, reason="replaced by a read meter", now=at("2026-10-15", 9))
    config = _config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0011_bill_refs_per_statement")
        assert "deactivated_at" not in _columns(engine)
        with engine.begin() as connection:  # what the meter's last update says (the deactivation)
            connection.execute(text("UPDATE sts_meters SET updated_at = :t"), {"t": at("2026-10-16", 8)})
    finally:
        upgrade_to_head(engine)
    assert "deactivated_at" in _columns(engine)
    with vw.sessions.begin() as s:
        assert s.get(StsMeter, PAN).deactivated_at == at("2026-10-16", 8)
