"""Holder lookups as the web sees them: throttled per client (terminals) or per IP (the customer page).

A lookup answers "is this an account, and whose?", so an unthrottled lookup
would let anyone list the accounts and their masked holders. Every lookup is
counted (``lookup:client:<id>`` / ``lookup:ip:<addr>``; limits
``VOUCHER_THROTTLE_CLIENT_LOOKUPS`` / ``VOUCHER_THROTTLE_WEB_IP_LOOKUPS``), an
unknown account also counts as a failed attempt of the client or IP (the
redemption's own counters), and a client or IP locked out by either gets 429
with ``Retry-After`` before the database is asked. The counters are written
even when the answer is a refusal (they are committed before it is raised).
"""
from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.orm import Session

from redeem_api.config import ThrottleLimits
from redeem_api.errors import ApiError, TooManyAttempts, UnknownAccount
from vouchers.services import fraud
from vouchers.services.clients import ClientInfo
from vouchers.services.errors import UnknownPayee
from vouchers.services.holder import Holder, holder_of
from vouchers.services.throttle import Limit, Throttle, client_key, ip_key

log = logging.getLogger(__name__)


def lookup_key(subject: str) -> str:
    """``lookup:client:<id>`` / ``lookup:ip:<addr>``: the lookups' own counters."""
    return f"lookup:{subject}"


def _limits(client: ClientInfo | None, ip: str | None, limits: ThrottleLimits) -> tuple[Limit, Limit]:
    """(the failure counter of the caller, its lookup counter)."""
    if client is not None:
        subject = client_key(client.client_id)
        return Limit(subject, limits.client_failures), Limit(lookup_key(subject), limits.client_lookups)
    subject = ip_key(ip or "unknown")
    return Limit(subject, limits.web_ip_failures), Limit(lookup_key(subject), limits.web_ip_lookups)


def look_up_holder(session: Session, account_no: str, *, client: ClientInfo | None, ip: str | None,
                   throttle: Throttle, limits: ThrottleLimits, now: dt.datetime) -> Holder:
    """The masked holder, or :class:`TooManyAttempts` / :class:`UnknownAccount`.

    Runs its own transaction on ``session`` (committed before a refusal is raised, so the count stays).
    """
    failures, lookups = _limits(client, ip, limits)
    refusal: ApiError | None = None
    holder: Holder | None = None
    with session.begin():
        wait = throttle.retry_after(session, [failures, lookups], now)
        if wait is not None:
            raise TooManyAttempts(wait)
        counted = [lookups]
        try:
            holder = holder_of(session, account_no)
        except UnknownPayee:
            counted.append(failures)
            refusal = UnknownAccount("no electricity account with that number")
        for key in throttle.record_failure(session, counted, now):
            fraud.record_alert(session, now=now, kind=fraud.LOCKOUT, channel="terminal" if client else "web",
                               client_id=client.client_id if client else None, ip=ip,
                               details={"subject": key})
            log.warning("throttle lockout of %s (holder lookups)", key)
    if refusal is not None:
        raise refusal
    assert holder is not None
    return holder
