"""Request ids and the one log line per request; the JSON log format.

Every response carries ``X-Request-Id``: the caller's own id when it is a
sane token (1-128 of ``A-Z a-z 0-9 . _ : -``, so it can neither forge a log
line nor smuggle markup), else a fresh random one. The same id is in JSON
error bodies (``error.request_id``) and in the request's log line, so a
complaint quoting it finds the line. The line names the route's rule (never
the raw path or query), the status and the duration; never a body, code or
key.

``log_format = "json"`` (``VOUCHER_LOG_FORMAT``) makes ``voucherctl serve``
write every log record, gunicorn's included, as one JSON object a line
(:class:`JsonFormatter`, :func:`gunicorn_logconfig`); plain text stays the
default, and the per-request line is then logged at INFO only (not shown).
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import re
import secrets
from typing import Any

HEADER = "X-Request-Id"
LOG_FORMATS = ("text", "json")
REQUESTS_LOGGER = "redeem_api.requests"
_SANE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}

log = logging.getLogger(REQUESTS_LOGGER)


def new_request_id() -> str:
    return secrets.token_hex(16)


def request_id_from(header: str | None) -> str:
    """The caller's ``X-Request-Id`` if it is sane, else a new one (an invalid header is not an error)."""
    if header is not None and _SANE.fullmatch(header):
        return header
    return new_request_id()


def log_request(request_id: str, method: str, route: str, status: int, seconds: float | None) -> None:
    """The one line of a request: its id, method, route rule, status and duration."""
    duration_ms = None if seconds is None else round(seconds * 1000, 1)
    log.info("%s %s %s %s ms [%s]", method, route, status, "-" if duration_ms is None else duration_ms, request_id,
             extra={"request_id": request_id, "method": method, "route": route, "status": status,
                    "duration_ms": duration_ms})


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, process, and any fields passed
    as ``extra`` (the request line's ``request_id``, ``route``, ``status``, ``duration_ms``...)."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                document[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            document["stack"] = self.formatStack(record.stack_info)
        return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def configure_json(*, access_log: bool) -> None:
    """This process's logging as :func:`gunicorn_logconfig` sets it (before gunicorn starts, so that the
    lines ``serve`` writes first are JSON too)."""
    import logging.config

    logging.config.dictConfig(gunicorn_logconfig(access_log=access_log))


def gunicorn_logconfig(*, access_log: bool) -> dict[str, Any]:
    """gunicorn's ``logconfig_dict`` for JSON logs: every logger (gunicorn's, ours) through one JSON handler on
    stderr. gunicorn turns its access log on whenever a log configuration is given: it stays off unless asked
    for (the app's request line already says what it would)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": "INFO", "handlers": ["json"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
            "gunicorn.access": {"level": "INFO" if access_log else "CRITICAL", "handlers": [], "propagate": True},
        },
        "handlers": {"json": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
    }
