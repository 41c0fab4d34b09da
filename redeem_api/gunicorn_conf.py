"""gunicorn's configuration for the web process: one for ``voucherctl serve`` and for a gunicorn you run.

``voucherctl serve`` builds its gunicorn settings with :func:`settings` (adding where to listen and how
many workers); a gunicorn started by hand reads the same settings from this module::

    gunicorn -c python:redeem_api.gunicorn_conf -b 127.0.0.1:8000 -w 4 'redeem_api.app:create_app()'

Either way: the gthread worker with bounded waits for slow clients (:data:`WORKER_CLASS`), the request
limits, JSON log lines when ``log_format = "json"`` (``VOUCHER_LOG_FORMAT``, read from the configuration
file and the environment as every setting is), and in each worker the JSON errors for the 400/414/431
gunicorn answers itself (:func:`post_worker_init`, :mod:`redeem_api.server_errors`). Options given on
gunicorn's command line win over this module's values, as gunicorn always does.

gunicorn reads every module-level name that is one of its settings; the other names here are ignored.
"""
from __future__ import annotations

import functools
import os
import socket
import time
from typing import Any

# Slow clients. gunicorn's gthread worker waits up to 5 s for a new connection's first bytes in a pool
# thread, then reads the whole request head and body in that thread with no time limit: a handful of
# clients that connect and say nothing, or trickle a header byte a second, hold every thread (slow loris).
# Our worker waits at most FIRST_BYTES_SECONDS for the first bytes (then parks the socket on the poller,
# as gunicorn does) and gives a request REQUEST_READ_SECONDS in total to arrive; a slower one is dropped.
FIRST_BYTES_SECONDS = 0.25
REQUEST_READ_SECONDS = 10.0  # VOUCHER_REQUEST_READ_SECONDS overrides it
WORKER_CLASS = "redeem_api.gunicorn_conf.BoundedThreadWorker"


class _DeadlineSocket:
    """A socket whose reads share one deadline per request (set when gunicorn makes it blocking)."""

    def __init__(self, sock: socket.socket, limit: float) -> None:
        self._sock, self._limit = sock, limit
        self._deadline: float | None = None
        self._expired = False

    def shutdown(self, how: int) -> None:
        if self._expired:  # gunicorn's graceful close would linger draining a trickling client: close hard
            raise OSError("request read deadline passed")
        self._sock.shutdown(how)

    def setblocking(self, flag: bool) -> None:
        if flag:
            self._deadline = time.monotonic() + self._limit
            self._sock.settimeout(self._limit)
        else:
            self._deadline = None
            self._sock.setblocking(False)

    def settimeout(self, value: float | None) -> None:  # an explicit timeout (e.g. the graceful close) wins
        self._deadline = None
        self._sock.settimeout(value)

    def recv(self, *args: Any) -> bytes:
        if self._deadline is not None:
            left = self._deadline - time.monotonic()
            if left <= 0:
                self._deadline = None
                self._expired = True
                raise TimeoutError("the request did not arrive in time")
            self._sock.settimeout(left)
        try:
            return self._sock.recv(*args)
        except TimeoutError:
            self._expired = self._deadline is not None
            raise

    def _writing(self) -> None:
        if self._deadline is not None:
            self._sock.settimeout(self._limit)  # a response gets a fresh per-operation limit

    def send(self, *args: Any) -> int:
        self._writing()
        return self._sock.send(*args)

    def sendall(self, *args: Any) -> None:
        self._writing()
        self._sock.sendall(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


_worker_class = None


def _request_read_seconds() -> float:
    web = _web_settings()
    return web.request_read_seconds if web is not None else REQUEST_READ_SECONDS


def __getattr__(name: str) -> Any:
    """``BoundedThreadWorker`` is built on first use, so other CLI commands never import gunicorn."""
    global _worker_class
    if name != "BoundedThreadWorker":
        raise AttributeError(name)
    if _worker_class is None:
        from gunicorn.workers import gthread

        class BoundedThreadWorker(gthread.ThreadWorker):
            def init_process(self) -> None:
                gthread.DEFAULT_WORKER_DATA_TIMEOUT = FIRST_BYTES_SECONDS  # read per call by handle()
                super().init_process()

            def handle(self, conn):  # runs in a pool thread
                if not isinstance(conn.sock, _DeadlineSocket):
                    conn.sock = _DeadlineSocket(conn.sock, _request_read_seconds())
                return super().handle(conn)

        BoundedThreadWorker.__module__ = __name__
        BoundedThreadWorker.__qualname__ = "BoundedThreadWorker"
        _worker_class = BoundedThreadWorker
    return _worker_class


@functools.cache
def _web_settings() -> Any:
    """The web part of the settings (the configuration file overridden by ``VOUCHER_*`` variables), read once;
    None when they are bad: the app itself then stops with its one-line message."""
    from vouchers.config import ConfigError, load_settings

    try:
        return load_settings(os.environ).web
    except ConfigError:
        return None


def post_worker_init(_worker: Any) -> None:
    """gunicorn's hook, in each worker: the 400/414/431 gunicorn answers itself become the API's JSON errors
    with the security headers (:mod:`redeem_api.server_errors`)."""
    from redeem_api import server_errors

    server_errors.install()


def settings(*, threads: int, timeout: int, access_log: bool, log_format: str) -> dict[str, Any]:
    """gunicorn's settings (names as in gunicorn's documentation) other than where to listen and how many
    workers; ``None`` leaves gunicorn's default. ``worker_class`` is already :data:`WORKER_CLASS` when
    ``threads`` > 1."""
    logconfig = None
    if log_format == "json":  # every line gunicorn's loggers and ours write: one JSON object
        from redeem_api.request_log import gunicorn_logconfig

        logconfig = gunicorn_logconfig(access_log=access_log)
    return {
        "worker_class": WORKER_CLASS if threads > 1 else "sync",
        "threads": threads,
        "timeout": timeout,
        "graceful_timeout": timeout,
        "keepalive": 5,
        "backlog": 2048,
        "preload_app": False,  # every worker builds its own app (engine, pool) after the fork
        "accesslog": "-" if access_log else None,
        "errorlog": "-",
        "loglevel": "info",
        "limit_request_line": 4094,
        "limit_request_fields": 100,
        "limit_request_field_size": 8190,
        "worker_tmp_dir": "/dev/shm" if os.path.isdir("/dev/shm") else None,
        # gunicorn >= 25.1 opens a control socket at one fixed path per user ($XDG_RUNTIME_DIR or
        # ~/.gunicorn/gunicorn.ctl): a second server on the machine (a benchmark's echo server, a test's
        # server) fights over it. Nothing here uses gunicornc; off (ignored by older gunicorn).
        "control_socket_disable": True,
        "logconfig_dict": logconfig,
        "post_worker_init": post_worker_init,
    }


def _log_format() -> str:
    web = _web_settings()
    return web.log_format if web is not None else "text"


def _module_settings() -> dict[str, Any]:
    """This module's settings as gunicorn reads them (a gunicorn run by hand): 4 threads, 30 s, no access log."""
    found = settings(threads=4, timeout=30, access_log=False, log_format=_log_format())
    return {name: value for name, value in found.items() if value is not None}


globals().update(_module_settings())
