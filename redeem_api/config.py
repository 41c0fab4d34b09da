"""The web process's configuration, built once from :class:`vouchers.config.Settings`.

Every knob is a row of docs/configuration.md (TOML file, ``VOUCHER_*`` variables over it). Nothing
here touches the database or the key store: :func:`redeem_api.app.create_app`
does that when it builds the application.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from vouchers.errors import InvalidSerial
from vouchers.serials import Serial
from vouchers.branding import NEUTRAL, Branding
from vouchers.config import ConfigError, Settings
from vouchers.setting_values import env_int
from vouchers.config.branding import load_branding
from vouchers.services.throttle import ThrottleLimits

__all__ = ["ApiConfig", "ThrottleLimits", "utc_now"]


def utc_now() -> dt.datetime:
    """The web process's one clock; services receive ``now`` as an argument."""
    return dt.datetime.now(dt.timezone.utc)


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw == "":
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be 1/0, true/false or yes/no, got {raw!r}")


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    raw = (env.get(name) or "").strip().lower()
    if raw == "":
        return default
    if raw not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw


@dataclass(frozen=True)
class ApiConfig:
    """What :func:`redeem_api.app.create_app` needs; build it with :meth:`from_settings`."""

    settings: Settings
    web_passphrase: str  # VOUCHER_WEB_PASSPHRASE: pepper and vending keys; never the issuer's passphrase
    throttle: ThrottleLimits = ThrottleLimits()
    max_body_bytes: int = 16 * 1024
    canary_serials: frozenset[str] = frozenset()
    trusted_proxies: int = 0
    db_pool_size: int = 4
    metrics_dir: str | None = None
    redis_prefix: str = "vouchers:throttle:"
    cookie_secure: bool = True
    idempotency_stale_seconds: int = 120
    keyring_refresh_seconds: int = 5
    api_key_cache_seconds: int = 0  # a valid key is answered from the worker's memory this long (0: never)
    retry_after_unavailable: int = 5
    log_format: str = "text"  # VOUCHER_LOG_FORMAT: text | json (serve's log lines)
    clock: Callable[[], dt.datetime] = field(default=utc_now, compare=False)
    branding: Branding = NEUTRAL  # the /redeem page's name, logo, hotline, terms and colours

    @classmethod
    def from_settings(cls, settings: Settings, *, web_passphrase: str | None = None,
                      clock: Callable[[], dt.datetime] | None = None) -> ApiConfig:
        """Read the API's ``VOUCHER_*`` knobs; the web secret comes from the key-store rules.

        Only ``VOUCHER_WEB_PASSPHRASE`` is read: the issuer's ``VOUCHER_KEY_PASSPHRASE``
        is neither needed nor looked at, so the web process can run without it.
        """
        env = settings.env
        if web_passphrase is None:
            from vouchers.keystore.passphrase import resolve_web_passphrase

            web_passphrase = resolve_web_passphrase(settings)
        canaries = set()
        for item in (env.get("VOUCHER_CANARY_SERIALS") or "").replace(";", ",").split(","):
            item = item.strip().replace(" ", "").replace("-", "")
            if not item:
                continue
            try:
                Serial.parse(item)
            except InvalidSerial as e:
                raise ConfigError(f"VOUCHER_CANARY_SERIALS: {item!r} is not a valid serial") from e
            canaries.add(item)
        return cls(
            settings=settings,
            web_passphrase=web_passphrase,
            throttle=ThrottleLimits.from_env(env),
            max_body_bytes=env_int(env, "VOUCHER_MAX_BODY_BYTES", 16 * 1024, minimum=256, maximum=10 * 1024 * 1024),
            canary_serials=frozenset(canaries),
            trusted_proxies=env_int(env, "VOUCHER_TRUSTED_PROXIES", 0, minimum=0, maximum=5),
            db_pool_size=env_int(env, "VOUCHER_DB_POOL_SIZE", 4, maximum=100),
            metrics_dir=env.get("VOUCHER_METRICS_DIR") or None,
            redis_prefix=env.get("VOUCHER_REDIS_PREFIX") or "vouchers:throttle:",
            cookie_secure=_flag(env, "VOUCHER_COOKIE_SECURE", True),
            idempotency_stale_seconds=env_int(env, "VOUCHER_IDEMPOTENCY_STALE_SECONDS", 120, minimum=10),
            api_key_cache_seconds=env_int(env, "VOUCHER_API_KEY_CACHE_SECONDS", 0, minimum=0, maximum=300),
            log_format=_choice(env, "VOUCHER_LOG_FORMAT", ("text", "json"), "text"),
            clock=clock or utc_now,
            branding=load_branding(env),
        )
