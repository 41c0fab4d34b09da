"""Settings, database access and the services' dependencies for CLI commands.

Settings, the engine and the tariff catalogue are built once per process;
the money services' dependencies (:func:`services`) once per command.
"""
from __future__ import annotations

import datetime as dt
import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker

from vouchers.storage.db import make_engine, session_factory
from vouchers.storage.schema_version import current_revision, head_revision, is_newer_than_code
from voucherctl.output import CliError
from vouchers.config import Settings, load_settings

if TYPE_CHECKING:  # imported when used: a command that needs no tariffs loads no metering
    from vouchers.metering.config import MeteringConfig
    from vouchers.tariffs import Catalog
    from vouchers.services.deps import ServiceDeps
    from vouchers.branding import Branding
    from vouchers.services.report_source import DataAsOf
    from vouchers.storage.replica import Freshness
    from vouchers.services.fraud_config import FraudConfig
    from vouchers.staff.config import StaffConfig


_SQLITE_HEADER = b"SQLite format 3\x00"
_URL_HINT = "use sqlite:/// or postgresql+psycopg://"


@functools.cache
def settings() -> Settings:
    """The configuration file overlaid by the environment, read once per process."""
    loaded = load_settings(os.environ)
    if loaded.home.exists() and not loaded.home.is_dir():
        raise CliError(f"VOUCHER_HOME {loaded.home} is not a directory")
    return loaded


def _sqlite_file() -> Path | None:
    """The file of a SQLite database URL (None for other databases and in-memory SQLite)."""
    try:
        url = make_url(settings().database_url)
    except ArgumentError as e:
        raise CliError(f"invalid VOUCHER_DATABASE_URL ({_URL_HINT})") from e
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def _check_sqlite_file(path: Path) -> None:
    """A directory or a file that is not SQLite's is refused up front (SQLite would say 'unable to open')."""
    if path.is_dir():
        raise CliError(f"the SQLite database {path} is a directory, not a database file (check VOUCHER_DATABASE_URL)")
    if path.is_file() and path.stat().st_size > 0:
        with path.open("rb") as file:
            if file.read(len(_SQLITE_HEADER)) != _SQLITE_HEADER:
                raise CliError(f"{path} is not a SQLite database (check VOUCHER_DATABASE_URL)")


@functools.cache
def engine() -> Engine:
    """The database of VOUCHER_DATABASE_URL (a SQLite file is created by the first connection)."""
    sqlite_file = _sqlite_file()
    if sqlite_file is not None:
        _check_sqlite_file(sqlite_file)
    url = settings().database_url
    try:
        return make_engine(url)
    except (ImportError, NoSuchModuleError) as e:  # a dialect or driver SQLAlchemy or we do not have
        raise CliError(f"unsupported database URL scheme {make_url(url).drivername!r} ({_URL_HINT})") from e


def _newer_schema(current: str) -> CliError:
    return CliError(f"the database's schema ({current}) is newer than this voucherctl (which knows up to "
                    f"{head_revision()}): upgrade voucherctl")


def refuse_newer_schema() -> None:
    """Refuse a database a newer voucherctl wrote (``init`` cannot downgrade it); touches no missing file."""
    sqlite_file = _sqlite_file()
    if sqlite_file is not None and not sqlite_file.exists():
        return
    current = current_revision(engine())
    if current is not None and is_newer_than_code(current):
        raise _newer_schema(current)


def sessions(*, check_schema: bool = True) -> sessionmaker[Session]:
    """A session factory on an initialised database (else a clear error); creates nothing."""
    sqlite_file = _sqlite_file()
    if sqlite_file is not None and not sqlite_file.exists():
        raise CliError(f"database is not initialised: no file {sqlite_file} (run `voucherctl init`; "
                       "check VOUCHER_HOME)")
    eng = engine()
    if check_schema:
        current = current_revision(eng)
        if current is None:
            raise CliError("database is not initialised: run `voucherctl init` first")
        if current != head_revision():
            if is_newer_than_code(current):
                raise _newer_schema(current)
            raise CliError(f"database schema is at {current}, expected {head_revision()}: run `voucherctl init`")
    return session_factory(eng)


def _reports_url() -> str | None:
    """VOUCHER_REPORTS_DATABASE_URL, checked like the primary's (None: reports read the primary)."""
    url = settings().reports_database_url
    if url is None:
        return None
    try:
        parsed = make_url(url)
    except ArgumentError as e:
        raise CliError(f"invalid VOUCHER_REPORTS_DATABASE_URL ({_URL_HINT})") from e
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database)
        if path.is_file():  # a missing file is refused by replica.reports_engine (a reader never creates one)
            _check_sqlite_file(path)
    return url


_read_only_engines: dict[str, Engine] = {}  # the reports' engines, one per URL, built once per process


def _read_only_engine(url: str) -> Engine:
    if url not in _read_only_engines:
        from vouchers.storage.replica import ReportsDatabaseError, reports_engine

        try:
            _read_only_engines[url] = reports_engine(url)
        except ReportsDatabaseError as e:
            raise CliError(str(e)) from e
        except (ImportError, NoSuchModuleError) as e:
            raise CliError(f"unsupported database URL scheme {make_url(url).drivername!r} in "
                           f"VOUCHER_REPORTS_DATABASE_URL ({_URL_HINT})") from e
    return _read_only_engines[url]


def dispose_reports_engines() -> None:
    """Close the reports' engines (for tests that change VOUCHER_REPORTS_DATABASE_URL within one process)."""
    while _read_only_engines:
        _read_only_engines.popitem()[1].dispose()


def reports_sessions() -> sessionmaker[Session]:
    """Sessions on the reports database: VOUCHER_REPORTS_DATABASE_URL (an engine whose connections refuse
    writes) if set, else the primary's. Its schema must be this voucherctl's, as the primary's must."""
    url = _reports_url()
    if url is None:
        return sessions()
    from vouchers.storage.replica import ReportsDatabaseError, check_reports_schema

    eng = _read_only_engine(url)
    try:
        check_reports_schema(eng)
    except ReportsDatabaseError as e:
        raise CliError(str(e)) from e
    return session_factory(eng)


def reports_max_lag_seconds() -> int:
    """VOUCHER_REPORTS_MAX_LAG_SECONDS (default 300)."""
    return settings().reports_max_lag_seconds


def replay_probe(session: Session) -> Freshness:
    """How fresh the reports database's data is (tests replace this with a standby's)."""
    from vouchers.storage.replica import freshness

    return freshness(session)


@contextmanager
def report_session(allow_stale: bool = False) -> Iterator[tuple[Session, DataAsOf]]:
    """A report's read-only transaction on the reports database and the as-of of the data it reads; a standby
    lagging more than VOUCHER_REPORTS_MAX_LAG_SECONDS is refused in one line unless ``allow_stale``. The
    transaction is rolled back at the end: a report writes nothing."""
    from vouchers.services.report_source import StaleReports, report_transaction

    factory = reports_sessions()
    max_lag = reports_max_lag_seconds()
    try:
        with report_transaction(factory, now=now(), max_lag_seconds=max_lag, allow_stale=allow_stale,
                                probe=replay_probe) as opened:
            yield opened
    except StaleReports as e:
        raise CliError(f"{e} (VOUCHER_REPORTS_MAX_LAG_SECONDS): try again when it has caught up, "
                       "or pass --allow-stale") from e


def now() -> dt.datetime:
    """The one place the CLI reads the clock; services get it as an argument."""
    return dt.datetime.now(dt.timezone.utc)


def key_store():
    from vouchers.keystore.store import KeyStore

    return KeyStore(settings().home)


def passphrase() -> str:
    """The issuer's VOUCHER_KEY_PASSPHRASE (signing keys, card store, audit key); missing: one clear error."""
    from vouchers.keystore.passphrase import resolve_passphrase

    return resolve_passphrase(settings())


@functools.cache
def catalog() -> Catalog:
    """The tariff catalogue: ``VOUCHER_TARIFF_DIR`` or the shipped data."""
    from vouchers.tariffs import TariffError, load_catalog

    try:
        return load_catalog(settings().tariff_dir)
    except TariffError as e:
        raise CliError(str(e)) from e


def metering_config() -> MeteringConfig:
    """Billing, cost-control and time-zone settings (file and ``VOUCHER_*`` variables)."""
    return settings().metering


def services() -> ServiceDeps:
    """The money services' dependencies for one command. The vending backend is built on a keypad
    meter's first token only, so money for other accounts never needs the key-store passphrase."""
    from vouchers.vending.keys import software_backend
    from vouchers.services.deps import ServiceDeps, built_once

    return ServiceDeps(catalog=catalog(), metering=metering_config(),
                       vending=built_once(lambda: software_backend(key_store(), web_passphrase())),
                       fraud=fraud_config())


def fraud_config() -> FraudConfig:
    """The fraud rules' thresholds and actions (``fraud.*``)."""
    return settings().fraud


def actor() -> str:
    """The operator recorded by billing, STS and fraud commands: ``VOUCHER_ACTOR``, else ``$USER``."""
    return settings().actor or os.environ.get("USER") or "operator"


def web_passphrase() -> str:
    """The web secret VOUCHER_WEB_PASSPHRASE (pepper, vending keys); missing: one clear error."""
    from vouchers.keystore.passphrase import resolve_web_passphrase

    return resolve_web_passphrase(settings())


def _business(moment: dt.datetime) -> tuple[dt.datetime, dt.tzinfo]:
    import zoneinfo

    if moment.tzinfo is None:  # SQLite keeps no offset: stored times are UTC
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment, zoneinfo.ZoneInfo(settings().timezone)


def when_text(moment: dt.datetime, *, seconds: bool = False) -> str:
    """An instant for people: ``2026-12-06 09:00 (UTC+8)`` in VOUCHER_TIMEZONE."""
    from vouchers.display import local_text

    return local_text(*_business(moment), seconds=seconds)


def when_iso(moment: dt.datetime) -> str:
    """An instant for JSON and CSV: ISO 8601 in VOUCHER_TIMEZONE with its offset."""
    from vouchers.display import local_iso

    return local_iso(*_business(moment))


def local_times(document: dict[str, Any], source: object, *names: str) -> dict[str, Any]:
    """``document`` (a result's ``as_dict()``) with the instants ``names`` of ``source`` (its attributes, None
    allowed) rewritten as :func:`when_iso`: the JSON keeps its field names, in business time with the offset."""
    for name in names:
        value = getattr(source, name)
        document[name] = when_iso(value) if value is not None else None
    return document


@functools.cache
def branding() -> Branding:
    """The utility's branding in force (``[branding]`` / ``VOUCHER_BRAND_*``), the logo file read once."""
    return settings().branding


def print_branding():  # -> print_templates.PrintBranding (imported when used: printing loads reportlab)
    """The branding in force as bills, reports and receipts print it."""
    from print_templates.model import PrintBranding

    return PrintBranding.from_branding(branding())


def staff_config() -> StaffConfig:
    """Session lifetimes and login throttle limits of staff members (``VOUCHER_CONSOLE_*``)."""
    return settings().staff


def totp_seal_key() -> bytes:
    """The key that seals staff TOTP secrets: derived from the pepper (needs VOUCHER_WEB_PASSPHRASE)."""
    from vouchers.staff.totp import seal_key

    return seal_key(key_store().pepper(web_passphrase()))


def staff_session_file() -> Path:
    """Where `voucherctl login` keeps its session token (0600, under VOUCHER_HOME)."""
    return settings().home / "staff-session"
