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
from collections.abc import Callable
from typing import Any

import click

from voucherctl import context
from voucherctl.output import CliError

def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def gunicorn_options(host: str, port: int, workers: int, threads: int, timeout: int,
                     access_log: bool, log_format: str = "text") -> dict[str, Any]:
    """gunicorn's settings for ``serve``: where to listen and how many workers, and the rest from
    :func:`redeem_api.gunicorn_conf.settings`, the configuration a gunicorn run by hand reads too."""
    from redeem_api.gunicorn_conf import settings

    return {
        "bind": f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}",  # IPv6
        "workers": workers,
        "proc_name": "voucherctl-serve",
        **settings(threads=threads, timeout=timeout, access_log=access_log, log_format=log_format),
    }


def run_gunicorn(app_factory: Callable[[], Any], options: dict[str, Any],
                 on_exit: Callable[[], None] | None = None,
                 child_exit: Callable[[int], None] | None = None) -> None:
    """Run ``app_factory()`` (called in each worker) under gunicorn; returns when it stops.
    ``child_exit`` gets the pid of each worker that ends (in the master)."""
    from gunicorn.app.base import BaseApplication

    class _Server(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                if value is not None and key in self.cfg.settings:  # a setting this gunicorn knows
                    self.cfg.set(key, value)
            if on_exit is not None:
                self.cfg.set("on_exit", lambda _arbiter: on_exit())
            if child_exit is not None:
                self.cfg.set("child_exit", lambda _arbiter, worker: child_exit(worker.pid))

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
