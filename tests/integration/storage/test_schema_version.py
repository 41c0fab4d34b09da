"""storage.schema_version reads the database's revision on SQLite and PostgreSQL."""
from __future__ import annotations

import pytest
from vouchers.storage.db import make_engine
from vouchers.storage.schema_version import current_revision, head_revision
from tests.conftest import scratch_pg_database


def test_migrated_database_is_at_head(engine):
    assert current_revision(engine) == head_revision() != ""


def test_database_never_initialised_has_no_revision(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        assert current_revision(engine) is None
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgres_database_never_initialised_has_no_revision():
    with scratch_pg_database("voucher_empty") as url:
        engine = make_engine(url)
        try:
            assert current_revision(engine) is None
        finally:
            engine.dispose()


def test_database_behind_the_code_is_refused_by_the_cli(tmp_path, monkeypatch):
    from alembic import command

    from vouchers.storage.migrate import _config, upgrade_to_head
    from voucherctl import context
    from voucherctl.output import CliError

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0012_sts_meter_deactivated_at")
    assert current_revision(engine) == "0012_sts_meter_deactivated_at"
    monkeypatch.setenv("VOUCHER_DATABASE_URL", url)
    monkeypatch.setenv("VOUCHER_HOME", str(tmp_path))
    context.settings.cache_clear()
    context.engine.cache_clear()
    try:
        with pytest.raises(CliError, match=f"schema is at 0012_sts_meter_deactivated_at, expected {head_revision()}"):
            context.sessions()
        upgrade_to_head(engine)
        context.sessions()  # at head now: accepted
    finally:
        context.engine().dispose()
        context.settings.cache_clear()
        context.engine.cache_clear()
        engine.dispose()
