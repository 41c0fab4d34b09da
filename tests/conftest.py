"""Shared fixtures: injected time, databases on SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
import zoneinfo
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from vouchers.keystore import sealing
from vouchers.storage.db import make_engine, session_factory
from vouchers.storage.migrate import upgrade_to_head

# Hypothesis's default 200 ms deadline per example is a timed assertion: on a loaded 2-core CI machine it
# fails correct code. Speed is measured in bench/, never by tests.
settings.register_profile("suite", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("suite")

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
PG_ADMIN_URL = os.environ.get("VOUCHER_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--soak", action="store_true", help="also run the long soak variants (marked slow)")
    parser.addoption("--no-postgres", action="store_true", help="skip PostgreSQL tests (CI never sets this)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_slow = pytest.mark.skip(reason="soak variant: run with --soak")
    skip_pg = pytest.mark.skip(reason="--no-postgres given")
    for item in items:
        if "slow" in item.keywords and not config.getoption("--soak"):
            item.add_marker(skip_slow)
        if "postgres" in item.keywords and config.getoption("--no-postgres"):
            item.add_marker(skip_pg)


@pytest.fixture
def now() -> dt.datetime:
    """The injected clock: 2026-11-26 10:00 in Beijing."""
    return dt.datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI)


# The key store's scrypt cost (keystore.sealing: ~0.13 s per seal or unseal) is a production setting. Key
# stores built by fixtures for hundreds of tests seal their secrets at this test-only cost instead; unsealing
# reads the cost from the sealed file, so the code and servers under test unlock them cheaply too. The
# production cost itself is checked by tests/unit/keystore and paid by the CLI's e2e tests.
TEST_SCRYPT_N = 2**10


def cheap_sealing():  # type: ignore[no-untyped-def]
    """Context manager: key-store secrets sealed inside it use :data:`TEST_SCRYPT_N`."""
    return mock.patch.object(sealing, "SCRYPT_N", TEST_SCRYPT_N)


def drop_pg_database(name: str) -> None:
    """Drop a database of ours, closing its connections (nothing if it is gone already)."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@contextmanager
def scratch_pg_database(prefix: str) -> Iterator[str]:
    """An empty PostgreSQL database of our own (no schema); its URL. Dropped on exit."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        drop_pg_database(name)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A PostgreSQL database of our own for this test session, dropped at the end."""
    with scratch_pg_database("voucher_test") as url:
        yield url


@pytest.fixture(scope="session")
def pg_engine(pg_database: str) -> Iterator[Engine]:
    engine = make_engine(pg_database)
    upgrade_to_head(engine)
    yield engine
    engine.dispose()


def _truncate_all(engine: Engine) -> None:
    with engine.begin() as conn:
        tables = conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
        )).scalars().all()
        if tables:
            names = ", ".join(f'"{t}"' for t in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty SQLite file, made once per test process; each test gets a copy."""
    path = tmp_path_factory.mktemp("sqlite-template") / "vouchers.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade_to_head(engine)
    engine.dispose()
    assert not Path(f"{path}-wal").exists()  # the last connection closed: everything is in the main file
    return path


def sqlite_copy(template: Path, path: Path) -> str:
    """Copy the migrated template to ``path``; its URL."""
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """A migrated, empty database URL, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return sqlite_copy(request.getfixturevalue("sqlite_template"), tmp_path / "vouchers.db")
    engine = request.getfixturevalue("pg_engine")
    _truncate_all(engine)
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_primary() -> Iterator[str]:
    """A second migrated PostgreSQL database (the primary of these tests), made once per test process."""
    with scratch_pg_database("voucher_primary") as url:
        engine = make_engine(url)
        upgrade_to_head(engine)
        engine.dispose()
        yield url


@pytest.fixture
def primary_url(db_url, request, tmp_path) -> str:
    """An empty migrated database beside ``db_url``, on the same engine kind: the primary of the tests whose
    ``db_url`` is the reports database (``VOUCHER_REPORTS_DATABASE_URL``)."""
    if db_url.startswith("sqlite"):
        return sqlite_copy(request.getfixturevalue("sqlite_template"), tmp_path / "primary.db")
    url = request.getfixturevalue("pg_primary")
    engine = make_engine(url)
    _truncate_all(engine)
    engine.dispose()
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine):
    return session_factory(engine)
