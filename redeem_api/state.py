"""What one application instance holds: engine, sessions, pepper, keys, throttle, metrics, service deps.

Built by :func:`redeem_api.app.create_app` (never at import time) and reached
from request code through :func:`state`.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from dataclasses import dataclass

from flask import current_app, g
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from vouchers.keystore.web_keys import WebKeys
from redeem_api.config import ApiConfig
from redeem_api.metrics import Metrics
from vouchers.keyring import KeyRing
from vouchers.services.deps import ServiceDeps
from vouchers.services.throttle import Throttle

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
