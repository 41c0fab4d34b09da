"""Settings and database access for CLI commands, built once per process."""
from __future__ import annotations

import datetime as dt
import functools
import os
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from storage.db import make_engine, session_factory
from storage.schema_version import current_revision, head_revision
from voucherctl.output import CliError
from vouchers.settings import Settings


@functools.cache
def settings() -> Settings:
    return Settings.from_env(os.environ)


@functools.cache
def engine() -> Engine:
    return make_engine(settings().database_url)


def sessions(*, check_schema: bool = True) -> sessionmaker[Session]:
    """A session factory on an initialised database (else a clear error)."""
    url = make_url(settings().database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:") \
            and not Path(url.database).exists():
        raise CliError(f"no database at {url.database}: run `voucherctl init` first (check VOUCHER_HOME)")
    eng = engine()
    if check_schema:
        current = current_revision(eng)
        if current is None:
            raise CliError("database is not initialised: run `voucherctl init` first")
        if current != head_revision():
            raise CliError(f"database schema is at {current}, expected {head_revision()}: run `voucherctl init`")
    return session_factory(eng)


def now() -> dt.datetime:
    """The one place the CLI reads the clock; services get it as an argument."""
    return dt.datetime.now(dt.timezone.utc)


def key_store():
    from keystore.store import KeyStore

    return KeyStore(settings().home)


def passphrase() -> str:
    from keystore.passphrase import resolve_passphrase

    return resolve_passphrase(settings())
