"""``voucherctl serve`` refusing to start: one line on stderr, at once, nothing created."""
from __future__ import annotations

import socket
import time

import pytest


@pytest.fixture
def ready(cli):
    cli("init", check=True)  # so that only where it listens can stop the server
    return cli


def test_busy_port_is_one_line_without_retries(ready):
    cli = ready
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        result = cli("serve", "--port", str(port), "--workers", "1")
        elapsed = time.monotonic() - started
    assert result.code == 1 and result.out == ""
    assert result.err == f"voucherctl: error: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    assert elapsed < 4  # gunicorn alone retried for 5 s


def test_bad_host_is_one_line(ready):
    result = ready("serve", "--host", "999.1.1.1", "--port", "8000")
    assert result.code == 1 and result.err.startswith("voucherctl: error: cannot listen on 999.1.1.1:8000: ")
    assert result.err.count("\n") == 1
