"""The web process's configuration, built once from :class:`vouchers.config.Settings`.

Every knob is a row of docs/configuration.md (TOML file, ``VOUCHER_*`` variables over it). Nothing
here touches the database or the key store: :func:`redeem_api.app.create_app`
does that when it builds the application.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from vouchers.branding import NEUTRAL, Branding
from vouchers.config import Settings
from vouchers.services.throttle import ThrottleLimits

__all__ = ["ApiConfig", "ThrottleLimits", "utc_now"]


def utc_now() -> dt.datetime:
    """The web process's one clock; services receive ``now`` as an argument."""
    return dt.datetime.now(dt.timezone.utc)


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
        """The API's knobs from the typed settings; the web secret comes from the key-store rules.

        Only ``VOUCHER_WEB_PASSPHRASE`` is read: the issuer's ``VOUCHER_KEY_PASSPHRASE``
        is neither needed nor looked at, so the web process can run without it.
        """
        if web_passphrase is None:
            from vouchers.keystore.passphrase import resolve_web_passphrase

            web_passphrase = resolve_web_passphrase(settings)
        web = settings.web
        return cls(
            settings=settings,
            web_passphrase=web_passphrase,
            throttle=settings.throttle,
            max_body_bytes=web.max_body_bytes,
            canary_serials=web.canary_serials,
            trusted_proxies=web.trusted_proxies,
            db_pool_size=settings.db_pool_size,
            metrics_dir=str(web.metrics_dir) if web.metrics_dir else None,
            redis_prefix=settings.redis_prefix,
            cookie_secure=web.cookie_secure,
            idempotency_stale_seconds=web.idempotency_stale_seconds,
            api_key_cache_seconds=web.api_key_cache_seconds,
            log_format=web.log_format,
            clock=clock or utc_now,
            branding=settings.branding,
        )
