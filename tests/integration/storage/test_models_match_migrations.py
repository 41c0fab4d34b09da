"""The ORM models and the migrations describe the same schema (Alembic's autogenerate comparison).

A column added to a model but not to a migration (or the other way round)
would work in tests that create tables from the models and fail on a real,
migrated database. On PostgreSQL some differences are by design: foreign
keys that statement triggers check instead (one check per statement for
million-line imports, migrations 0002/0009/0011/0013) and a BRIN index on
``payments.paid_at`` instead of the models' B-trees.
"""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import vouchers.storage.api_models  # noqa: F401 - every model module registers its tables
import vouchers.storage.ledger_models  # noqa: F401
import vouchers.storage.metering_models  # noqa: F401
import vouchers.storage.sts_models  # noqa: F401
import vouchers.storage.request_models  # noqa: F401
from vouchers.storage.models import Base

TRIGGER_CHECKED_FOREIGN_KEYS = {"customer_bills", "ledger_postings", "metering_bills", "payments"}
POSTGRES_ONLY_INDEXES = {("remove_index", "ix_payments_paid_at_brin"), ("add_index", "ix_payments_channel_paid_at"),
                         ("add_index", "ix_payments_paid_at")}


def _unexpected(diff: list, dialect: str) -> list:
    if dialect != "postgresql":
        return diff
    left = []
    for change in diff:
        kind, item = change[0], change[1]
        if kind == "add_fk" and item.table.name in TRIGGER_CHECKED_FOREIGN_KEYS:
            continue
        if kind in ("add_index", "remove_index") and (kind, item.name) in POSTGRES_ONLY_INDEXES:
            continue
        left.append(change)
    return left


def test_models_match_the_migrated_schema(engine):
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert _unexpected(diff, engine.dialect.name) == []
