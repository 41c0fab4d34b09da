"""SMS top-up (短信缴费): the SMS gateway's signed inbound request, replay refusal and the reply to the sender.

The redemption itself is the one redeem flow (:func:`vouchers.services.redeem.redeem`, reached through the
web edge's runner like a terminal's); this module holds what is particular to the channel:

* :func:`check_signature`: ``X-Signature`` = hex HMAC-SHA256 keyed with the gateway client's API key over
  ``<X-Timestamp>\\n<raw body>``, the timestamp (unix seconds) within :data:`MAX_SKEW_SECONDS` of now;
* :func:`accept_once`: one row per accepted request in ``sms_inbound``; the same signature, or the same
  ``message_id`` of the same gateway, again is a replay;
* :func:`queue_reply`: the reply to the sender's number in the outbox (``sms.topup_reply``), rendered at
  send time (zh by default), naming the configured hotline; a redemption held for fraud review gets its own
  "under review" reply. No reply, row or log line ever holds the code.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vouchers.storage.api_models import OutboxMessage, SmsInbound

MAX_SKEW_SECONDS = 300
REPLY_KIND = "sms.topup_reply"
REDEEMED, REFUSED, HELP, HELD = "topup_redeemed", "topup_refused", "topup_help", "topup_held"
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"[0-9a-fA-F]{64}")
MESSAGE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,64}")
SENDER = re.compile(r"\+?[0-9]{3,20}")


def signature(api_key: str, timestamp: str, body: bytes) -> str:
    """The hex HMAC-SHA256 a gateway sends in ``X-Signature`` (documented in docs/api.md)."""
    return hmac.new(api_key.encode("ascii"), timestamp.encode("ascii") + b"\n" + body, hashlib.sha256).hexdigest()


def check_signature(api_key: str, timestamp: str | None, body: bytes, given: str | None,
                    now: dt.datetime) -> str | None:
    """Why the request's signature is refused (``signature_missing`` / ``signature_invalid`` /
    ``timestamp_out_of_range``), or None when it is genuine and fresh."""
    if not timestamp or not given:
        return "signature_missing"
    if not _TIMESTAMP.fullmatch(timestamp) or not _SIGNATURE.fullmatch(given):
        return "signature_invalid"
    if not hmac.compare_digest(signature(api_key, timestamp, body), given.lower()):
        return "signature_invalid"
    if abs(now.timestamp() - int(timestamp)) > MAX_SKEW_SECONDS:
        return "timestamp_out_of_range"
    return None


def accept_once(session: Session, *, client_pk: int, message_id: str, given_signature: str,
                now: dt.datetime) -> bool:
    """Record the request; False if this signature or this gateway's ``message_id`` was accepted before.

    Call in a transaction of its own and commit it before acting, so a replay racing the first request
    loses on the unique constraints."""
    digest = hashlib.sha256(given_signature.lower().encode("ascii")).digest()
    try:
        with session.begin_nested():
            session.execute(insert(SmsInbound.__table__), {"client_pk": client_pk, "message_id": message_id,
                                                             "signature_hash": digest, "received_at": now})
    except IntegrityError:
        return False
    return True


def queue_reply(session: Session, *, template: str, sender: str, account_no: str | None, hotline: str,
                now: dt.datetime, document: dict[str, object] | None = None) -> None:
    """The reply to ``sender`` in the outbox. ``hotline``: the configured one (branding), which every reply
    names. ``document``: the redemption's receipt (success only); the refusal and the help text carry nothing
    but the template and the hotline, the held reply the account number."""
    payload: dict[str, object] = {"template": template, "hotline": hotline}
    if template == HELD and account_no is not None:
        payload["account_no"] = account_no
    if template == REDEEMED and document is not None:
        payload.update({k: document[k] for k in ("account_no", "holder_masked", "amount", "balance", "currency",
                                                  "serial", "sts") if k in document})
    session.execute(insert(OutboxMessage.__table__), {
        "kind": REPLY_KIND, "account_no": (account_no or "-")[:32], "recipient": sender, "created_at": now,
        "attempts": 0, "payload": json.dumps(payload, ensure_ascii=False, sort_keys=True)})
