"""Request ids, the JSON log format, and the server's own error answers (no app, no database)."""
from __future__ import annotations

import json
import logging

from redeem_api import request_log, server_errors


def test_the_json_formatter_writes_one_object_a_line_with_the_request_fields():
    record = logging.LogRecord("redeem_api.requests", logging.INFO, __file__, 1, "%s %s", ("GET", "/healthz"), None)
    record.request_id, record.route, record.status, record.duration_ms = "abc", "/healthz", 200, 1.5
    line = request_log.JsonFormatter().format(record)
    assert "\n" not in line
    document = json.loads(line)
    assert document["message"] == "GET /healthz" and document["level"] == "INFO"
    assert document["logger"] == "redeem_api.requests" and document["time"].endswith("+00:00")
    assert (document["request_id"], document["route"], document["status"], document["duration_ms"]) == (
        "abc", "/healthz", 200, 1.5)
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        import sys

        failed = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    assert "boom" in json.loads(request_log.JsonFormatter().format(failed))["exception"]


def test_the_gunicorn_log_configuration_routes_every_logger_through_the_json_handler(capsys):
    import logging.config

    config = request_log.gunicorn_logconfig(access_log=False)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logging.config.dictConfig(config)
        logging.getLogger("gunicorn.error").info("Booting worker with pid: %s", 7)
        logging.getLogger("gunicorn.access").info("an access line")  # off unless --access-log
        request_log.log_request("rid-1", "POST", "/api/v1/payments", 201, 0.0123)
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    finally:  # the test process's logging as it was
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    assert [line["message"] for line in lines] == ["Booting worker with pid: 7",
                                                    "POST /api/v1/payments 201 12.3 ms [rid-1]"]
    assert lines[1]["request_id"] == "rid-1" and lines[1]["duration_ms"] == 12.3


def test_the_servers_own_error_answers_are_json_with_the_security_headers():
    sent: list[bytes] = []
    server_errors.write_error(None, 414, "URI Too Long", "Request Line is too large (9000 > 4094)",
                              write=lambda _sock, data: sent.append(data))
    head, _, body = sent[0].partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0] == "HTTP/1.1 414 URI Too Long"
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert headers["Content-Type"] == "application/json" and int(headers["Content-Length"]) == len(body)
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer" and headers["Cache-Control"] == "no-store"
    error = json.loads(body)["error"]
    assert error["code"] == "uri_too_long" and error["request_id"] == headers["X-Request-Id"]
    assert "9000" not in error["message"]  # gunicorn's text (which may quote the request) is never sent
    for status, code in ((400, "bad_request"), (431, "headers_too_large"), (500, "internal_error")):
        assert json.loads(server_errors.error_bytes(status, "x", "r").partition(b"\r\n\r\n")[2])["error"]["code"] \
            == code


def test_log_format_is_text_unless_json_is_asked_for():
    import pytest

    from redeem_api.config import ApiConfig
    from vouchers.config import ConfigError, Settings

    def log_format(env):
        return ApiConfig.from_settings(Settings.from_env(env), web_passphrase="x" * 12).log_format

    assert log_format({}) == "text" and log_format({"VOUCHER_LOG_FORMAT": "json"}) == "json"
    with pytest.raises(ConfigError, match="VOUCHER_LOG_FORMAT must be one of text, json"):
        log_format({"VOUCHER_LOG_FORMAT": "xml"})
