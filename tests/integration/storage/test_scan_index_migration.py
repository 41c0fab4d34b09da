"""Migration 0020_fraud_scan_index: its index statements are idempotent - a database whose scan index was
made by hand before the migration (or is there already) migrates without error, on SQLite and PostgreSQL -
and the downgrade leaves 0002's BRIN index alone."""
from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect, text

from tests.conftest import scratch_pg_database
from vouchers.storage.db import make_engine
from vouchers.storage.migrate import _config, upgrade_to_head

INDEX = {"sqlite": ("ix_payments_paid_at", "CREATE INDEX ix_payments_paid_at ON payments (paid_at)"),
         "postgresql": ("ix_payments_paid_at_brin", None)}  # PostgreSQL: 0002's BRIN, already there


def _to(engine, revision: str, *, down: bool = False) -> None:  # type: ignore[no-untyped-def]
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


def _indexes(engine) -> set[str]:  # type: ignore[no-untyped-def]
    return {i["name"] for i in inspect(engine).get_indexes("payments")}


def _check(url: str) -> None:
    engine = make_engine(url)
    try:
        name, by_hand = INDEX[engine.dialect.name]
        _to(engine, "0019_console_issuer_requests")
        if by_hand:
            with engine.begin() as conn:
                conn.execute(text(by_hand))
        assert name in _indexes(engine)
        upgrade_to_head(engine)  # the index is there already: no error
        assert name in _indexes(engine)
        _to(engine, "0019_console_issuer_requests", down=True)
        assert (name in _indexes(engine)) == (engine.dialect.name == "postgresql")
        upgrade_to_head(engine)
        assert name in _indexes(engine)
    finally:
        engine.dispose()


def test_the_scan_index_migration_is_idempotent_on_sqlite(tmp_path):
    _check(f"sqlite:///{tmp_path}/scan-index.db")


@pytest.mark.postgres
def test_the_scan_index_migration_is_idempotent_on_postgresql():
    with scratch_pg_database("scan_index") as url:
        _check(url)
