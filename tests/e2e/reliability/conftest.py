"""Fixtures for the reliability suite: a real ``voucherctl serve`` that can be SIGKILLed and restarted.

The server helpers and worlds come from tests/e2e/redeem_api/conftest.py (imported, not copied).
"""
from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from tests.e2e.redeem_api.conftest import VOUCHERCTL, Server, e2e_world, pg_world  # noqa: F401 (fixtures)
from tests.integration.redeem_api.world import World

from . import faults

__all__ = ["VOUCHERCTL", "Answer", "Fleet", "post", "voucherctl"]


def server_env(world: World, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOUCHER_")}
    env.update(world.env(**extra))
    return env


@dataclass
class Fleet:
    """Servers started by one test; ``kill`` takes down master and workers at once (SIGKILL the group)."""

    tmp_path: Path
    started: list[Server] = field(default_factory=list)

    def start(self, world: World, *, workers: int = 2, threads: int = 4, port: int | None = None,
              extra_args: tuple[str, ...] = (), kill_file: Path | None = None, **env: str) -> Server:
        """``kill_file``: start through :mod:`.faults` (the test arms SIGKILLs at chosen moments)."""
        if kill_file is not None:
            env[faults.ENV] = str(kill_file)
        server = Server(server_env(world, **env), workers, threads, log_path=self.tmp_path / "server.log")
        if port is not None:
            server.port = port
        if extra_args or kill_file is not None:
            server = _customised(server, extra_args, kill_file is not None)
        self.started.append(server)
        return server.start(timeout=90)

    def restart(self, old: Server) -> Server:
        server = Server(old.env, old.workers, old.threads, port=old.port, log_path=old.log_path)
        if getattr(old, "extra_args", ()) or getattr(old, "with_faults", False):
            server = _customised(server, old.extra_args, old.with_faults)
        self.started.append(server)
        return server.start(timeout=90)

    @staticmethod
    def kill(server: Server) -> None:
        assert server.proc is not None
        os.killpg(server.proc.pid, signal.SIGKILL)
        server.proc.wait(30)

    def logs(self) -> str:
        path = self.tmp_path / "server.log"
        return path.read_text("utf-8", "replace") if path.exists() else ""

    def stop_all(self) -> None:
        for server in self.started:
            server.stop()


def _customised(server: Server, extra_args: tuple[str, ...], with_faults: bool) -> Server:
    """A Server whose command line carries extra ``serve`` options (e.g. --timeout) and, with
    ``with_faults``, boots through :func:`.faults.boot` (kill points installed before the fork)."""

    class _Server(Server):
        def start(self, timeout: float = 60) -> Server:
            original = subprocess.Popen

            def popen(args, *a, **kw):
                args = list(args)
                if with_faults:
                    assert args[:len(VOUCHERCTL)] == VOUCHERCTL, args
                    args[len(VOUCHERCTL) - 1] = faults.boot(VOUCHERCTL[-1])
                return original([*args, *extra_args], *a, **kw)

            subprocess.Popen = popen  # only for this call, in this thread
            try:
                return super().start(timeout)
            finally:
                subprocess.Popen = original

    clone = _Server(server.env, server.workers, server.threads, port=server.port, log_path=server.log_path)
    clone.extra_args = extra_args  # type: ignore[attr-defined]
    clone.with_faults = with_faults  # type: ignore[attr-defined]
    return clone


@pytest.fixture
def fleet(tmp_path):
    f = Fleet(tmp_path)
    yield f
    f.stop_all()


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]


def post(http: requests.Session, url: str, key: str, idem: str | None, body: dict, timeout: float = 30) -> Answer:
    headers = {"Authorization": f"Bearer {key}"}
    if idem is not None:
        headers["Idempotency-Key"] = idem
    r = http.post(url, json=body, headers=headers, timeout=timeout)
    return Answer(r.status_code, r.content, dict(r.headers))


def voucherctl(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*VOUCHERCTL, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture
def sqlite_world(tmp_path, now, sqlite_template):
    """A world on SQLite only (tests whose control does not depend on the database)."""
    from tests.conftest import sqlite_copy
    from tests.integration.redeem_api.world import build_world

    url = sqlite_copy(sqlite_template, tmp_path / "vouchers.db")
    world = build_world(tmp_path, url, now)
    yield world
    world.engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=[pytest.mark.postgres, pytest.mark.slow])])
def hygiene_db_url(request, tmp_path) -> str:
    """SQLite in CI (the file is scanned); PostgreSQL (pg_dump) in the soak run and in the key drill."""
    from tests.conftest import _truncate_all, sqlite_copy

    if request.param == "sqlite":
        return sqlite_copy(request.getfixturevalue("sqlite_template"), tmp_path / "vouchers.db")
    engine = request.getfixturevalue("pg_engine")
    _truncate_all(engine)
    return engine.url.render_as_string(hide_password=False)
