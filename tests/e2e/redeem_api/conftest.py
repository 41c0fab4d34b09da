"""A real ``voucherctl serve`` (gunicorn, several workers) in a subprocess."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from tests.integration.redeem_api.world import World, build_world

# ``python -c BOOT`` rather than ``-m voucherctl``: the reliability tests prepend their kill points to BOOT.
BOOT = "import sys\nfrom voucherctl.main import main\nsys.exit(main(sys.argv[1:]))\n"
VOUCHERCTL = [sys.executable, "-c", BOOT]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    env: dict[str, str]
    workers: int = 2
    threads: int = 4
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    log_path: Path | None = None
    command: list[str] | None = None  # instead of ``voucherctl serve`` (e.g. a gunicorn run by hand)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> Server:
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            self.command or [*VOUCHERCTL, "serve", "--port", str(self.port), "--workers", str(self.workers),
                             "--threads", str(self.threads)],
            env=self.env, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"voucherctl serve exited with {self.proc.returncode}: {self.tail()}")
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"voucherctl serve did not come up: {self.tail()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def tail(self) -> str:
        if self.log_path and self.log_path.exists():
            return self.log_path.read_text("utf-8", "replace")[-3000:]
        return ""


@pytest.fixture
def e2e_world(tmp_path, db_url, now) -> World:
    world = build_world(tmp_path, db_url, now)
    yield world
    world.engine.dispose()


@pytest.fixture
def pg_world(tmp_path, now, request) -> World:
    """PostgreSQL only (the concurrency acceptance test)."""
    from tests.conftest import _truncate_all

    engine = request.getfixturevalue("pg_engine")
    _truncate_all(engine)
    world = build_world(tmp_path, engine.url.render_as_string(hide_password=False), now, accounts=50)
    yield world
    world.engine.dispose()


@pytest.fixture
def serve(tmp_path):
    servers: list[Server] = []

    def start(world: World, *, workers: int = 2, threads: int = 4, gunicorn: list[str] | None = None,
              **env: str) -> Server:
        """``voucherctl serve``, or with ``gunicorn`` (its arguments) gunicorn itself on the server's port."""
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("VOUCHER_")}
        full_env.update(world.env(**env))
        server = Server(full_env, workers, threads, log_path=tmp_path / f"server-{len(servers)}.log")
        if gunicorn is not None:
            server.command = [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{server.port}", *gunicorn]
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()
