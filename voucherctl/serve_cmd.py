"""``voucherctl serve``: the HTTP API under gunicorn (a production WSGI server).

One worker process per core by default, each with a few threads; every
worker builds its own app (engine, pool) after the fork. Configuration is
checked once in the master first, so a missing passphrase or an
uninitialised database is one line on stderr, not a crash loop.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
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
                     access_log: bool) -> dict[str, Any]:
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread" if threads > 1 else "sync",
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
    }


def run_gunicorn(app_factory: Callable[[], Any], options: dict[str, Any],
                 on_exit: Callable[[], None] | None = None) -> None:
    """Run ``app_factory()`` (called in each worker) under gunicorn; returns when it stops."""
    from gunicorn.app.base import BaseApplication

    class _Server(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                if value is not None:
                    self.cfg.set(key, value)
            if on_exit is not None:
                self.cfg.set("on_exit", lambda _arbiter: on_exit())

        def load(self):
            return app_factory()

    _Server().run()


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
    """Serve the HTTP API (redemptions, payments, accounts, stock, /redeem, /openapi.json, /metrics)."""
    from redeem_api.app import create_app
    from redeem_api.config import ApiConfig
    from redeem_api.state import EXTENSION

    settings = context.settings()
    config = ApiConfig.from_settings(settings)
    cleanup = None
    if config.metrics_dir is None:
        metrics_dir = tempfile.mkdtemp(prefix="voucher-metrics-")
        config = dataclasses.replace(config, metrics_dir=metrics_dir)
        cleanup = lambda: shutil.rmtree(metrics_dir, ignore_errors=True)  # noqa: E731
    try:
        trial = create_app(config)  # fail here, once, with a clear message
    except Exception as e:
        if cleanup:
            cleanup()
        from storage.errors import describe_database_error

        described = describe_database_error(e)
        if described is not None:
            raise CliError(described) from e
        raise
    trial.extensions[EXTENSION].engine.dispose()
    del trial
    options = gunicorn_options(host, port, workers or default_workers(), threads, timeout, access_log)
    click.echo(f"serving on http://{host}:{port} with {options['workers']} workers x {threads} threads", err=True)
    run_gunicorn(lambda: create_app(config), options, on_exit=cleanup)
