"""What one application instance holds: engine, sessions, pepper, keys, throttle, metrics, service deps.

Built by :func:`redeem_api.app.create_app` (never at import time) and reached
from request code through :func:`state`.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app, g
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from vouchers.keystore.web_keys import WebKeys
from redeem_api.config import ApiConfig
from vouchers.storage.db import session_factory
from redeem_api.metrics import Metrics
from vouchers.keyring import KeyRing
from vouchers.services.clients import ClientInfo
from vouchers.services.deps import ServiceDeps
from vouchers.services.throttle import Throttle
from vouchers.storage.replica import Freshness, freshness

log = logging.getLogger(__name__)
EXTENSION = "vouchers_redeem_api"


class KeyRingCache:
    """The public key ring, re-read when the key store's ring file changes (rotation, revocation)."""

    def __init__(self, store: WebKeys, refresh_seconds: int) -> None:
        self.store = store
        self.refresh_seconds = refresh_seconds
        self._lock = threading.Lock()
        self._ring = store.keyring()
        self._mtime = self._stat()
        self._checked = time.monotonic()

    def _stat(self) -> int:
        try:
            return self.store.ring_path.stat().st_mtime_ns
        except OSError:
            return 0

    def get(self) -> KeyRing:
        if time.monotonic() - self._checked >= self.refresh_seconds:
            with self._lock:
                self._checked = time.monotonic()
                mtime = self._stat()
                if mtime != self._mtime:
                    try:
                        self._ring = self.store.keyring()
                        self._mtime = mtime
                        log.info("reloaded the public key ring (%d keys)", len(self._ring))
                    except Exception:  # a half-written file: keep the ring we have, retry later
                        log.warning("could not reload the key ring; keeping the previous one", exc_info=True)
        return self._ring


class ClientCache:
    """API keys this worker checked, with their client, for ``seconds`` (``VOUCHER_API_KEY_CACHE_SECONDS``).

    Only valid keys are kept (a key just created works at once; a wrong one is always looked up), under the
    SHA-256 of the key, never the key; at most ``limit`` of them. A revoked key is refused by every worker
    at most ``seconds`` after the revocation, measured on the app's clock."""

    def __init__(self, seconds: int, limit: int = 4096) -> None:
        self.ttl = dt.timedelta(seconds=seconds)
        self.limit = limit
        self._entries: dict[bytes, tuple[dt.datetime, ClientInfo]] = {}

    @staticmethod
    def _key(api_key: str) -> bytes:
        return hashlib.sha256(api_key.encode("utf-8", "surrogatepass")).digest()

    def get(self, api_key: str, now: dt.datetime) -> ClientInfo | None:
        found = self._entries.get(self._key(api_key))
        if found is None or found[0] <= now:
            return None
        return found[1]

    def put(self, api_key: str, client: ClientInfo, now: dt.datetime) -> None:
        if len(self._entries) >= self.limit:
            self._entries.clear()
        self._entries[self._key(api_key)] = (now + self.ttl, client)


@dataclass
class AppState:
    config: ApiConfig
    engine: Engine
    sessions: sessionmaker[Session]
    pepper: bytes
    keyring: KeyRingCache
    throttle: Throttle
    metrics: Metrics
    fingerprint_secret: bytes
    csrf_secret: bytes
    services: ServiceDeps  # tariffs, metering settings, vending backend: passed to the money services
    keys: WebKeys  # the web's narrow key-store handle (vending keys are unsealed through it)
    clients: ClientCache | None = None  # VOUCHER_API_KEY_CACHE_SECONDS > 0
    # The console's reports and dashboard read here: VOUCHER_REPORTS_DATABASE_URL's read-only engine when set,
    # else the primary's sessions (see report_sessions).
    reports_engine: Engine | None = None
    replay_probe: Callable[[Session], Freshness] = freshness  # a reports database's freshness (tests inject one)

    def __post_init__(self) -> None:
        self.report_sessions: sessionmaker[Session] = (
            session_factory(self.reports_engine) if self.reports_engine is not None else self.sessions)

    @staticmethod
    def derive(pepper: bytes, label: str) -> bytes:
        """A purpose-bound secret from the pepper (same in every worker, never stored)."""
        return hmac.new(pepper, b"redeem_api/" + label.encode("ascii"), hashlib.sha256).digest()


def state() -> AppState:
    return current_app.extensions[EXTENSION]


def db() -> Session:
    """The request's session (one per request, closed at teardown)."""
    session = g.get("_db_session")
    if session is None:
        session = state().sessions()
        g._db_session = session
    return session


def close_db(_exc: BaseException | None = None) -> None:
    session = g.pop("_db_session", None)
    if session is not None:
        session.close()
