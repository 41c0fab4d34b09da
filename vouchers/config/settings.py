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

from vouchers.branding import NEUTRAL, Branding
from vouchers.config import parts
from vouchers.config.branding import load_branding
from vouchers.config.file import config_path, read_file
from vouchers.config.parts import SmsSettings, WebSettings
from vouchers.config.values import typed
from vouchers.metering.config import MeteringConfig
from vouchers.services.fraud_config import FraudConfig
from vouchers.services.throttle import ThrottleLimits
from vouchers.staff.config import StaffConfig


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    passphrase: str | None = field(repr=False)  # the issuer's VOUCHER_KEY_PASSPHRASE (signing keys, card store, audit key)
    demo: bool = False
    web_passphrase: str | None = field(default=None, repr=False)  # VOUCHER_WEB_PASSPHRASE (pepper, vending keys): all the web process gets
    issuer_code: int = 1
    timezone: str = "Asia/Shanghai"
    max_batch_size: int = 1_000_000
    currency: str = "CNY"
    redis_url: str | None = None
    reports_database_url: str | None = None  # a hot standby the reports read (None: database_url)
    reports_max_lag_seconds: int = 300  # a report refuses (unless --allow-stale) when the standby lags more
    redis_prefix: str = "vouchers:throttle:"
    db_pool_size: int = 4
    tariff_dir: Path | None = None  # None: the shipped tariff data
    actor: str | None = None  # VOUCHER_ACTOR (environment only): the operator recorded by billing, STS, fraud
    idempotency_retention_days: int = 7
    # each part's typed settings, built from its rows of vouchers.config.keys
    throttle: ThrottleLimits = ThrottleLimits()
    fraud: FraudConfig = field(default_factory=FraudConfig)
    metering: MeteringConfig = MeteringConfig()
    staff: StaffConfig = StaffConfig()
    web: WebSettings = WebSettings()
    sms: SmsSettings = SmsSettings()
    branding: Branding = NEUTRAL
    source: Path | None = None  # the configuration file read, if any

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Settings from ``VOUCHER_*`` values alone (no file): the environment's form of every key."""
        home = typed(env, "VOUCHER_HOME") or Path("./var")
        url = typed(env, "VOUCHER_DATABASE_URL") or f"sqlite:///{(home / 'vouchers.db').absolute()}"
        timezone = typed(env, "VOUCHER_TIMEZONE") or "Asia/Shanghai"
        return cls(
            home=home,
            database_url=url,
            passphrase=env.get("VOUCHER_KEY_PASSPHRASE") or None,
            demo=bool(typed(env, "VOUCHER_DEMO")),
            web_passphrase=env.get("VOUCHER_WEB_PASSPHRASE") or None,
            issuer_code=_or(typed(env, "VOUCHER_ISSUER_CODE"), 1),
            timezone=timezone,
            max_batch_size=_or(typed(env, "VOUCHER_MAX_BATCH_SIZE"), 1_000_000),
            currency=typed(env, "VOUCHER_CURRENCY") or "CNY",
            redis_url=typed(env, "VOUCHER_REDIS_URL"),
            reports_database_url=typed(env, "VOUCHER_REPORTS_DATABASE_URL"),
            reports_max_lag_seconds=_or(typed(env, "VOUCHER_REPORTS_MAX_LAG_SECONDS"), 300),
            redis_prefix=typed(env, "VOUCHER_REDIS_PREFIX") or "vouchers:throttle:",
            db_pool_size=_or(typed(env, "VOUCHER_DB_POOL_SIZE"), 4),
            tariff_dir=typed(env, "VOUCHER_TARIFF_DIR"),
            actor=typed(env, "VOUCHER_ACTOR"),
            idempotency_retention_days=_or(typed(env, "VOUCHER_IDEMPOTENCY_RETENTION_DAYS"), 7),
            throttle=parts.throttle_limits(env),
            fraud=parts.fraud_config(env),
            metering=parts.metering_config(env, timezone),
            staff=parts.staff_config(env),
            web=WebSettings.of(env),
            sms=SmsSettings.of(env),
            branding=load_branding(env),
        )

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def local_date(self, now: dt.datetime) -> dt.date:
        """The business-local calendar date of an aware ``now``."""
        return now.astimezone(self.tz).date()


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


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
