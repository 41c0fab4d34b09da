"""The migrations that change a ``CHECK (column IN (...))`` list (0007, 0015, 0016, through
vouchers/storage/migrations/check_in.py) go down and up again on both databases, and the list in force
is the one of the revision the database is at."""
from __future__ import annotations

import datetime as dt

import pytest
from alembic import command
from sqlalchemy import exc, text

from vouchers.storage.migrate import _config, upgrade_to_head

AT = dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.timezone.utc)


def _accepts_role(engine, role: str) -> bool:
    """Does api_clients take a row with this role? (the row is never kept)"""
    try:
        with engine.connect() as connection, connection.begin() as transaction:
            connection.execute(text(
                "INSERT INTO api_clients (client_id, name, role, key_hash, revoked, created_at) "
                "VALUES (:c, 'probe', :role, :h, false, :at)"), {"c": f"probe-{role}", "role": role,
                                                                  "h": b"\0" * 32, "at": AT})
            transaction.rollback()
        return True
    except exc.IntegrityError:
        return False


def _downgrade(engine, revision: str) -> None:
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


@pytest.mark.parametrize(("revision", "refused", "accepted"), [
    ("0006_sts_keychange", "headend", "admin"),  # below 0007
    ("0014_consignments", "service", "headend"),  # below 0015
    ("0015_service_role_and_phone", "sms_gateway", "service"),  # below 0016
])
def test_the_role_list_goes_down_and_up_with_the_migrations(engine, revision, refused, accepted):
    assert _accepts_role(engine, "sms_gateway") and not _accepts_role(engine, "nobody")
    try:
        _downgrade(engine, revision)
        assert _accepts_role(engine, accepted) and not _accepts_role(engine, refused)
    finally:
        upgrade_to_head(engine)
    assert _accepts_role(engine, refused) and _accepts_role(engine, "sms_gateway")
    assert not _accepts_role(engine, "nobody")
    if engine.dialect.name == "sqlite":  # the stored definitions edited in place are still a sound schema
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
