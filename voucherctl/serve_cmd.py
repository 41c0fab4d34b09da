"""``voucherctl serve``: the HTTP API under gunicorn (a production WSGI server).

One worker process per core by default, each with a few threads; every
worker builds its own app (engine, pool) after the fork. Configuration is
checked once in the master first, so a missing passphrase or an
uninitialised database is one line on stderr, not a crash loop.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable
from typing import Any

import click

from voucherctl import context
from voucherctl.output import CliError

# Slow clients. gunicorn's gthread worker waits up to 5 s for a new connection's first bytes in a pool
# thread, then reads the whole request head and body in that thread with no time limit: a handful of
# clients that connect and say nothing, or trickle a header byte a second, hold every thread (slow loris).
# Our worker waits at most FIRST_BYTES_SECONDS for the first bytes (then parks the socket on the poller,
# as gunicorn does) and gives a request `web.request_read_seconds` (default 10) in total to arrive; a slower one is dropped.
FIRST_BYTES_SECONDS = 0.25
WORKER_CLASS = "voucherctl.serve_cmd.BoundedThreadWorker"


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
    return context.settings().web.request_read_seconds


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


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def gunicorn_options(host: str, port: int, workers: int, threads: int, timeout: int,
                     access_log: bool, log_format: str = "text") -> dict[str, Any]:
    logconfig = None
    if log_format == "json":  # every line gunicorn's loggers and ours write: one JSON object (serve only)
        from redeem_api.request_log import gunicorn_logconfig

        logconfig = gunicorn_logconfig(access_log=access_log)
    return {
        "bind": f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}",  # IPv6
        "workers": workers,
        "worker_class": "gthread" if threads > 1 else "sync",  # gthread runs as BoundedThreadWorker
        "threads": threads,
        "timeout": timeout,
        "graceful_timeout": timeout,
        "keepalive": 5,
        "backlog": 2048,
        "preload_app": False,
        "accesslog": "-" if access_log else None,
        "errorlog": "-",
        "loglevel": "info",
        "limit_request_line": 4094,
        "limit_request_fields": 100,
        "limit_request_field_size": 8190,
        "proc_name": "voucherctl-serve",
        "worker_tmp_dir": "/dev/shm" if os.path.isdir("/dev/shm") else None,
        # gunicorn >= 25.1 opens a control socket at one fixed path per user ($XDG_RUNTIME_DIR or
        # ~/.gunicorn/gunicorn.ctl): a second server on the machine (a benchmark's echo server, a test's
        # server) fights over it. Nothing here uses gunicornc; off (ignored by older gunicorn).
        "control_socket_disable": True,
        "logconfig_dict": logconfig,
    }


def _json_server_errors(_worker: Any) -> None:
    """gunicorn's hook, in each worker: the 400/414/431 gunicorn answers itself become the API's JSON errors
    with the security headers (:mod:`redeem_api.server_errors`)."""
    from redeem_api import server_errors

    server_errors.install()


def run_gunicorn(app_factory: Callable[[], Any], options: dict[str, Any],
                 on_exit: Callable[[], None] | None = None,
                 child_exit: Callable[[int], None] | None = None) -> None:
    """Run ``app_factory()`` (called in each worker) under gunicorn; returns when it stops.
    ``child_exit`` gets the pid of each worker that ends (in the master)."""
    from gunicorn.app.base import BaseApplication

    class _Server(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                if key == "worker_class" and value == "gthread":
                    value = WORKER_CLASS  # gthread with bounded waits for slow clients (see above)
                if value is not None and key in self.cfg.settings:  # a setting this gunicorn knows
                    self.cfg.set(key, value)
            if on_exit is not None:
                self.cfg.set("on_exit", lambda _arbiter: on_exit())
            if child_exit is not None:
                self.cfg.set("child_exit", lambda _arbiter, worker: child_exit(worker.pid))
            self.cfg.set("post_worker_init", _json_server_errors)

        def load(self):
            return app_factory()

    _Server().run()


def check_can_listen(host: str, port: int) -> None:
    """Bind HOST:PORT once and let go, so a busy port or a bad host is one line, not gunicorn's 5 s of retries."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host.strip("[]") or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
            probe.bind(address)
    except OSError as e:  # socket.gaierror included
        raise CliError(f"cannot listen on {host}:{port}: {e.strerror or e}") from e


METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_metrics_dir(configured: str | None) -> tuple[str, Callable[[], None]]:
    """The directory the workers share their counts in, empty, and how to clean it up at exit.

    prometheus_client's files must not outlive a server (a new one would add old counts to its own),
    so a configured directory is emptied of them now and at exit, and a temporary one is removed."""
    if configured is None:
        directory = tempfile.mkdtemp(prefix="voucher-metrics-")
        return directory, lambda: shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(configured, exist_ok=True)

    def clear() -> None:
        for name in os.listdir(configured):
            if name.endswith(".db"):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(os.path.join(configured, name))

    clear()
    return configured, clear


def _mark_worker_dead(pid: int, directory: str) -> None:
    """gunicorn's ``child_exit``: a dead worker's counts stay in the sum, its live gauges (if any) go."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, directory)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=None, type=click.IntRange(1, 256), help="Worker processes [one per core].")
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 64), help="Threads per worker.")
@click.option("--timeout", default=30, show_default=True, type=click.IntRange(5, 600),
              help="Seconds before a silent worker is killed and restarted.")
@click.option("--access-log/--no-access-log", default=False, show_default=True,
              help="Log every request line to stderr (paths only; bodies and keys never).")
def serve(host: str, port: int, workers: int | None, threads: int, timeout: int, access_log: bool) -> None:
    """Serve the HTTP API (redemptions, payments, accounts, stock, /redeem, /openapi.json, /docs, /metrics)."""
    check_can_listen(host, port)
    context.sessions()  # the CLI's checks of the database (initialised, schema), creating nothing
    context.engine().dispose()  # the workers build their own engines after the fork
    from redeem_api.config import ApiConfig

    config = ApiConfig.from_settings(context.settings())
    metrics_dir, cleanup = prepare_metrics_dir(config.metrics_dir)
    # Before the app (and so prometheus_client) is imported: the library picks its mode at import.
    os.environ[METRICS_ENV] = metrics_dir
    from redeem_api.app import create_app
    from redeem_api.state import EXTENSION

    # A request holds one pooled connection for its one transaction: never fewer connections than threads.
    config = dataclasses.replace(config, db_pool_size=max(config.db_pool_size, threads), metrics_dir=metrics_dir)
    try:
        trial = create_app(config)  # fail here, once, with a clear message
    except Exception as e:
        cleanup()
        from vouchers.storage.errors import describe_database_error

        described = describe_database_error(e)
        if described is not None:
            raise CliError(described) from e
        raise
    trial.extensions[EXTENSION].engine.dispose()
    del trial
    options = gunicorn_options(host, port, workers or default_workers(), threads, timeout, access_log,
                               config.log_format)
    started = f"serving on http://{host}:{port} with {options['workers']} workers x {threads} threads"
    if config.log_format == "json":
        from redeem_api.request_log import configure_json

        configure_json(access_log=access_log)
        logging.getLogger(__name__).info(started)
    else:
        click.echo(started, err=True)
    run_gunicorn(lambda: create_app(config), options, on_exit=cleanup,
                 child_exit=lambda pid: _mark_worker_dead(pid, metrics_dir))
