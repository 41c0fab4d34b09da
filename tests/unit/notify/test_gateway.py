from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from vouchers.notify.errors import GatewayError, GatewayNotConfigured
from vouchers.config import ConfigError, Settings
from vouchers.notify.gateway import FileSink, HttpGateway, SmsMessage, make_gateway

MSG = SmsMessage(idempotency_id="om-7", account_no="3300012345", kind="sms.sts_token", lang="zh", text="充值码")


@pytest.fixture
def server():
    """A local HTTP gateway: records requests; answers with the status in ``state['status']``."""
    state: dict[str, object] = {"status": 200, "requests": [], "location": None}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            self._answer({"method": "POST", "path": self.path, "headers": dict(self.headers),
                          "body": json.loads(body)})

        def do_GET(self) -> None:  # noqa: N802
            self._answer({"method": "GET", "path": self.path, "headers": dict(self.headers), "body": None})

        def _answer(self, request: dict) -> None:
            requests: list = state["requests"]  # type: ignore[assignment]
            requests.append(request)
            status = int(state["status"]) if request["path"] == "/sms" else 200  # type: ignore[arg-type]
            self.send_response(status)
            if state["location"]:
                self.send_header("Location", str(state["location"]))
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    state["url"] = f"http://127.0.0.1:{httpd.server_address[1]}/sms"
    yield state
    httpd.shutdown()
    httpd.server_close()


def test_http_gateway_posts_json_with_bearer_and_idempotency_id(server):
    HttpGateway(server["url"], "s3cret-token", timeout=5).send(MSG)
    (request,) = server["requests"]
    assert request["headers"]["Authorization"] == "Bearer s3cret-token"
    assert request["headers"]["Idempotency-Key"] == "om-7"
    assert request["body"] == {"idempotency_id": "om-7", "account_no": "3300012345", "kind": "sms.sts_token",
                               "lang": "zh", "text": "充值码"}


@pytest.mark.parametrize("status", [400, 500, 503])
def test_http_gateway_non_2xx_is_a_failure_without_secrets(server, status):
    server["status"] = status
    with pytest.raises(GatewayError) as e:
        HttpGateway(server["url"], "s3cret-token", timeout=5).send(MSG)
    assert str(e.value) == f"gateway answered HTTP {status}"
    assert "s3cret" not in str(e.value) and "充值码" not in str(e.value)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_http_gateway_never_follows_a_redirect_so_the_token_stays_put(server, status):
    server["status"], server["location"] = status, server["url"].replace("/sms", "/elsewhere")
    with pytest.raises(GatewayError) as e:  # a failed send: the outbox retries it later
        HttpGateway(server["url"], "s3cret-token", timeout=5).send(MSG)
    assert str(e.value) == f"gateway answered HTTP {status} (redirects are not followed)"
    assert [r["path"] for r in server["requests"]] == ["/sms"]  # nothing went to the redirect's target


@pytest.mark.parametrize("url", ["http://sms.example/x", "http://10.0.0.5/sms", "http://localhost.evil.example/",
                                 "HTTP://sms.example/x", "https:///x", "ftp://x", "sms.example/x"])
def test_http_gateway_refuses_a_url_that_would_send_the_token_in_clear(url):
    with pytest.raises(GatewayNotConfigured, match="https"):
        HttpGateway(url, "t")
    with pytest.raises(GatewayNotConfigured, match="VOUCHER_SMS_URL"):
        make_gateway(sink=None, url=url, token="t")


@pytest.mark.parametrize("url", ["https://sms.example/x", "HTTPS://sms.example:8443/x", "http://localhost:8080/sms",
                                 "http://127.0.0.1:9/sms", "http://[::1]:8080/sms", "http://LOCALHOST/sms"])
def test_http_gateway_takes_https_and_plain_http_only_on_this_machine(url):
    assert isinstance(make_gateway(sink=None, url=url, token="t"), HttpGateway)


def test_http_gateway_unreachable_is_a_failure():
    with pytest.raises(GatewayError, match="unreachable"):
        HttpGateway("http://127.0.0.1:9/sms", "t", timeout=2).send(MSG)


def test_file_sink_appends_json_lines(tmp_path):
    sink = FileSink(tmp_path / "sms.jsonl")
    sink.send(MSG)
    sink.send(MSG)
    lines = (tmp_path / "sms.jsonl").read_text("utf-8").splitlines()
    assert [json.loads(x)["idempotency_id"] for x in lines] == ["om-7", "om-7"]
    with pytest.raises(GatewayError):
        FileSink(tmp_path / "missing-dir" / "sms.jsonl").send(MSG)


def gateway_of(env):
    """The gateway the CLI builds from these settings (``outbox send``)."""
    sms = Settings.from_env(env).sms
    return make_gateway(sink=sms.sink, url=sms.url, token=sms.token, timeout=sms.timeout_seconds)


def test_the_gateway_from_the_settings(tmp_path):
    assert isinstance(gateway_of({"VOUCHER_SMS_SINK": str(tmp_path / "s.jsonl")}), FileSink)
    http = gateway_of({"VOUCHER_SMS_URL": "https://sms.example/x", "VOUCHER_SMS_TOKEN": "t", "VOUCHER_SMS_TIMEOUT": "2.5"})
    assert isinstance(http, HttpGateway) and http.timeout == 2.5
    for env, message in [({}, "no SMS gateway configured"),
                         ({"VOUCHER_SMS_URL": "https://sms.example/x"}, "VOUCHER_SMS_TOKEN"),
                         ({"VOUCHER_SMS_URL": "ftp://x", "VOUCHER_SMS_TOKEN": "t"}, "http")]:
        with pytest.raises(GatewayNotConfigured, match=message):
            gateway_of(env)
    with pytest.raises(ConfigError, match="VOUCHER_SMS_TIMEOUT"):  # a bad value stops the settings, not the send
        gateway_of({"VOUCHER_SMS_URL": "https://x", "VOUCHER_SMS_TOKEN": "t", "VOUCHER_SMS_TIMEOUT": "x"})
