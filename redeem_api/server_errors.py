"""The answers gunicorn gives on its own, before the app sees a request, as the app's JSON errors.

A request line over ``limit_request_line`` (414), a header over
``limit_request_field_size`` or too many headers (431), a malformed request
line or header (400): gunicorn refuses these itself, with an HTML page and
none of the security headers. ``voucherctl serve`` puts :func:`write_error`
in place of gunicorn's writer in each worker, so they are ``{"error":
{"code", "message", "request_id"}}`` with the same headers as every other
answer, and one request log line. The message is fixed per status: what
gunicorn would say may quote the refused request line or header.
"""
from __future__ import annotations

import json
import socket
from collections.abc import Callable

from redeem_api.http import SECURITY_HEADERS
from redeem_api.request_log import log_request, new_request_id

HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    406: "not_acceptable", 408: "request_timeout", 411: "length_required", 413: "payload_too_large",
    414: "uri_too_long", 415: "unsupported_media_type", 417: "expectation_failed", 429: "too_many_attempts",
    431: "headers_too_large", 500: "internal_error", 501: "not_implemented",
}
_MESSAGES = {
    400: "the request line or a header is malformed",
    403: "the request is forbidden",
    414: "the request line (method and URL) is too long",
    417: "the Expect header is not supported",
    431: "a request header is too large, or there are too many headers",
    500: "an unexpected error occurred; it has been logged",
    501: "the transfer coding is not supported",
}


def error_bytes(status: int, reason: str, request_id: str) -> bytes:
    """A complete HTTP/1.1 response: the JSON error, the security headers, and ``Connection: close``."""
    code = HTTP_CODES.get(status, f"http_{status}")
    message = _MESSAGES.get(status, reason.lower() or code.replace("_", " "))
    body = json.dumps({"error": {"code": code, "message": message, "request_id": request_id}},
                      separators=(",", ":")).encode("ascii")
    headers = {"Content-Type": "application/json", "Content-Length": str(len(body)), "Cache-Control": "no-store",
               **SECURITY_HEADERS, "X-Request-Id": request_id, "Connection": "close"}
    reason_phrase = "".join(ch for ch in reason if " " <= ch <= "~") or code
    head = f"HTTP/1.1 {status} {reason_phrase}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return head.encode("latin-1") + body


def write_error(sock: socket.socket, status_int: int, reason: str, _mesg: str,
                write: Callable[[socket.socket, bytes], object] | None = None) -> None:
    """gunicorn's ``util.write_error`` signature: the message gunicorn composed is not sent (see above)."""
    if write is None:
        from gunicorn.util import write_nonblock as write
    request_id = new_request_id()
    log_request(request_id, "-", "unparsed", status_int, None)
    write(sock, error_bytes(status_int, reason, request_id))


def install() -> None:
    """In a gunicorn worker: its own error answers become :func:`write_error`'s (gunicorn's ``handle_error``
    calls ``gunicorn.util.write_error`` through the module, for the sync and the threaded worker alike)."""
    from gunicorn import util

    util.write_error = write_error
