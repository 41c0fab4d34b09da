"""``voucherctl serve`` checks where it will listen before gunicorn starts (no 5 s of retries)."""
from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from voucherctl.output import CliError
from voucherctl.serve_cmd import check_can_listen, gunicorn_options


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


def test_a_busy_port_is_one_clear_error(busy_port):
    with pytest.raises(CliError) as info:
        check_can_listen("127.0.0.1", busy_port)
    assert info.value.format_message() == f"cannot listen on 127.0.0.1:{busy_port}: Address already in use"


@pytest.mark.parametrize("host", ["999.1.1.1", "no-such-host.invalid"])
def test_a_bad_host_is_one_clear_error(host):
    with pytest.raises(CliError, match=rf"^cannot listen on {host}:8000: \S"):
        check_can_listen(host, 8000)


def test_a_free_port_is_left_free():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    check_can_listen("127.0.0.1", port)
    with socket.socket() as again:  # let go: gunicorn can bind it
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))


@pytest.mark.parametrize("host, bind", [("127.0.0.1", "127.0.0.1:8000"), ("::1", "[::1]:8000"),
                                        ("[::1]", "[::1]:8000"), ("0.0.0.0", "0.0.0.0:8000")])
def test_an_ipv6_host_is_bracketed_for_gunicorn(host, bind):
    assert gunicorn_options(host, 8000, 1, 1, 30, False)["bind"] == bind


def test_json_logs_give_gunicorn_a_log_configuration_and_text_keeps_its_own():
    assert gunicorn_options("127.0.0.1", 8000, 1, 1, 30, False)["logconfig_dict"] is None
    config = gunicorn_options("127.0.0.1", 8000, 1, 1, 30, False, "json")["logconfig_dict"]
    assert config["formatters"]["json"]["()"] == "redeem_api.request_log.JsonFormatter"
    assert config["loggers"]["gunicorn.access"]["level"] == "CRITICAL"  # no access log unless --access-log
