"""The effective configuration of one process: the TOML file overlaid by ``VOUCHER_*`` variables.

Built once at the edge (the CLI's context, the web app factory) with :func:`load_settings`; the core
and the services never read the environment or the file, they get typed values passed in.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vouchers.config.file import config_path, read_file
from vouchers.errors import ConfigError


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as e:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from e
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}")
    return value


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    passphrase: str | None  # the issuer's VOUCHER_KEY_PASSPHRASE (signing keys, card store, audit key)
    demo: bool = False
    web_passphrase: str | None = None  # VOUCHER_WEB_PASSPHRASE (pepper, vending keys): all the web process gets
    issuer_code: int = 1
    timezone: str = "Asia/Shanghai"
    max_batch_size: int = 1_000_000
    currency: str = "CNY"
    redis_url: str | None = None
    reports_database_url: str | None = None  # a hot standby the reports read (None: database_url)
    # every effective VOUCHER_* value as text, for the typed parsers of each part
    # (ApiConfig, MeteringConfig, the SMS gateway); every name is a row of vouchers.config.keys
    env: Mapping[str, str] = field(default_factory=dict)
    source: Path | None = None  # the configuration file read, if any

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Settings from ``VOUCHER_*`` values alone (no file): the environment's form of every key."""
        home = Path(env.get("VOUCHER_HOME") or "./var").expanduser()
        url = env.get("VOUCHER_DATABASE_URL") or f"sqlite:///{(home / 'vouchers.db').absolute()}"
        demo = env.get("VOUCHER_DEMO", "").lower() in {"1", "true", "yes"}
        issuer = _int(env, "VOUCHER_ISSUER_CODE", 1)
        if issuer > 99:
            raise ConfigError("VOUCHER_ISSUER_CODE must be 0..99")
        tz = env.get("VOUCHER_TIMEZONE") or "Asia/Shanghai"
        try:
            zoneinfo.ZoneInfo(tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as e:
            raise ConfigError(f"VOUCHER_TIMEZONE: unknown time zone {tz!r}") from e
        return cls(
            home=home,
            database_url=url,
            passphrase=env.get("VOUCHER_KEY_PASSPHRASE") or None,
            demo=demo,
            web_passphrase=env.get("VOUCHER_WEB_PASSPHRASE") or None,
            issuer_code=issuer,
            timezone=tz,
            max_batch_size=_int(env, "VOUCHER_MAX_BATCH_SIZE", 1_000_000, minimum=1),
            currency=env.get("VOUCHER_CURRENCY") or "CNY",
            redis_url=env.get("VOUCHER_REDIS_URL") or None,
            reports_database_url=env.get("VOUCHER_REPORTS_DATABASE_URL") or None,
            env={k: v for k, v in env.items() if k.startswith("VOUCHER_")},
        )

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def local_date(self, now: dt.datetime) -> dt.date:
        """The business-local calendar date of an aware ``now``."""
        return now.astimezone(self.tz).date()


def effective_env(environ: Mapping[str, str]) -> tuple[dict[str, str], Path | None]:
    """The file's values (if there is a file) overridden by the non-empty ``VOUCHER_*`` variables.

    An empty variable counts as unset, as it always has, so it does not blank a value from the file.
    """
    path = config_path(environ)
    values = read_file(path) if path is not None else {}
    values.update({k: v for k, v in environ.items() if k.startswith("VOUCHER_") and v != ""})
    return values, path


def load_settings(environ: Mapping[str, str]) -> Settings:
    """The process's settings: called once by each edge with ``os.environ``."""
    values, path = effective_env(environ)
    return dataclasses.replace(Settings.from_env(values), source=path)
