"""The SMS gateway port and its two implementations: HTTP JSON and a JSON-lines file sink."""
from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from vouchers.notify.errors import GatewayError, GatewayNotConfigured

DEFAULT_TIMEOUT = 10.0
# plain http:// only to this machine (a local relay, the tests' stub): elsewhere the token would travel in clear
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True)
class SmsMessage:
    """One message to deliver. ``idempotency_id`` is the same on every retry, so a gateway can drop duplicates."""

    idempotency_id: str
    account_no: str
    kind: str
    lang: str
    text: str
    recipient: str | None = None  # a phone number (an SMS top-up's reply to its sender); None: the account's

    def as_json(self) -> dict[str, object]:
        """The message as gateways receive it (``recipient`` only when there is one)."""
        document = asdict(self)
        if self.recipient is None:
            del document["recipient"]
        return document


class SmsGateway(Protocol):
    def send(self, message: SmsMessage) -> None:
        """Deliver or raise :class:`GatewayError` (one line, no secret)."""


def check_url(url: str) -> str:
    """``url`` if the bearer token may go there: https://, or http:// to localhost, 127.0.0.1 or ::1."""
    try:
        parts = urllib.parse.urlsplit(url)
        host, scheme = parts.hostname, parts.scheme.lower()
    except ValueError:  # e.g. a malformed IPv6 literal or port
        host, scheme = None, ""
    if not host or not (scheme == "https" or (scheme == "http" and host in LOOPBACK_HOSTS)):
        raise GatewayNotConfigured("VOUCHER_SMS_URL must be an https:// URL (http:// only to localhost, "
                                   "127.0.0.1 or ::1)")
    return url


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A 3xx stays a 3xx (an HTTPError): following it would carry the bearer token to another URL."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        return None


class HttpGateway:
    """POST the message as JSON with a bearer token; any non-2xx answer (redirects included: never
    followed) or network error is a failure, retried later by the outbox."""

    def __init__(self, url: str, token: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._url, self._token, self._timeout = check_url(url), token, timeout
        self._opener = urllib.request.build_opener(_NoRedirects)

    @property
    def timeout(self) -> float:
        return self._timeout

    def send(self, message: SmsMessage) -> None:
        request = urllib.request.Request(
            self._url, data=json.dumps(message.as_json(), ensure_ascii=False).encode("utf-8"), method="POST",
            headers={"Content-Type": "application/json; charset=utf-8", "Authorization": f"Bearer {self._token}",
                     "Idempotency-Key": message.idempotency_id})
        try:
            with self._opener.open(request, timeout=self._timeout) as response:  # noqa: S310 (checked URL)
                status = response.status
        except urllib.error.HTTPError as e:
            followed = " (redirects are not followed)" if 300 <= e.code < 400 else ""
            raise GatewayError(f"gateway answered HTTP {e.code}{followed}") from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise GatewayError(f"gateway unreachable: {type(reason).__name__}") from None
        if not 200 <= status < 300:
            raise GatewayError(f"gateway answered HTTP {status}")


class FileSink:
    """Append each message as one JSON line (demo and tests); flushed to disk before it counts as sent."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def send(self, message: SmsMessage) -> None:
        line = json.dumps(message.as_json(), ensure_ascii=False, sort_keys=True) + "\n"
        try:
            with self._path.open("a", encoding="utf-8") as f:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:
            raise GatewayError(f"cannot write the SMS sink file: {e.strerror or type(e).__name__}") from None


def make_gateway(*, sink: Path | None, url: str | None, token: str | None, timeout: float = DEFAULT_TIMEOUT) -> SmsGateway:
    """A sink file (``VOUCHER_SMS_SINK``) wins; else ``VOUCHER_SMS_URL`` + ``VOUCHER_SMS_TOKEN``; else an error."""
    if sink:
        return FileSink(Path(sink).expanduser())
    if url and token:
        check_url(url)
        return HttpGateway(url, token, timeout=timeout)
    if url:
        raise GatewayNotConfigured("VOUCHER_SMS_TOKEN is not set (needed with VOUCHER_SMS_URL)")
    raise GatewayNotConfigured("no SMS gateway configured: set VOUCHER_SMS_URL and VOUCHER_SMS_TOKEN, "
                               "or VOUCHER_SMS_SINK=/path/file.jsonl")
