from __future__ import annotations

from alembic import command
from sqlalchemy import inspect

from vouchers.storage.migrate import _config, upgrade_to_head


def _columns(engine) -> set[str]:
    found = inspect(engine)
    return {c["name"] for t in ("outbox_messages", "metering_notifications") for c in found.get_columns(t)}


def test_outbox_delivery_columns_downgrade_and_upgrade(engine):
    assert {"next_attempt_at", "dead_at"} <= _columns(engine)
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0009_payment_refs_one_pass")
    assert not {"next_attempt_at", "dead_at"} & _columns(engine)
    upgrade_to_head(engine)
    assert {"next_attempt_at", "dead_at"} <= _columns(engine)
