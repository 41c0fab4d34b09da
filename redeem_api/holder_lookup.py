"""Holder lookups as the web sees them: throttled per client (terminals) or per IP (the customer page).

A lookup answers "is this an account, and whose?", so an unthrottled lookup
would let anyone list the accounts and their masked holders. Every lookup is
counted (``lookup:client:<id>`` / ``lookup:ip:<addr>``; limits
``VOUCHER_THROTTLE_CLIENT_LOOKUPS`` / ``VOUCHER_THROTTLE_WEB_IP_LOOKUPS``), an
unknown account also counts as a failed attempt of the client or IP (the
redemption's own counters), and a client or IP locked out by either gets 429
with ``Retry-After`` before the database is asked. Counting and checking are one
atomic step (:meth:`Throttle.acquire`, as for redemptions), so concurrent lookups
cannot overshoot. The web's busy addresses must send a proof of work first, as
for a redemption. The counters are written even when the answer is a refusal
(they are committed before it is raised).
"""
from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.orm import Session

from redeem_api.config import ThrottleLimits
from redeem_api.errors import ApiError, ChallengeRequired, TooManyAttempts, UnknownAccount
from vouchers.services import fraud
from vouchers.services.clients import ClientInfo
from vouchers.services.errors import UnknownPayee
from vouchers.services.holder import Holder, holder_of
from vouchers.services.throttle import Limit, Locked, Throttle, client_key, ip_key

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
                   throttle: Throttle, limits: ThrottleLimits, now: dt.datetime, pow_bits: int = 0) -> Holder:
    """The masked holder, or :class:`TooManyAttempts` / :class:`ChallengeRequired` / :class:`UnknownAccount`.

    The lookup is counted before it is made, on both counters at once (:meth:`Throttle.acquire`: one
    atomic statement or script refuses it, counting nothing, when either is at its limit), so
    concurrent lookups cannot overshoot a limit; a known account gives the failure count back. On the
    web, an address past ``web_ip_challenge_after`` failures must send a proof of work of the
    difficulty its count asks for (``pow_bits``: that of the verified, spent proof the form carried),
    as a redemption must. Runs its own transaction on ``session`` (committed before a refusal is
    raised, so the count stays).
    """
    failures, lookups = _limits(client, ip, limits)
    refusal: ApiError | None = None
    holder: Holder | None = None
    with session.begin():
        try:
            ticket = throttle.acquire(session, [failures, lookups], now)
        except Locked as e:
            raise TooManyAttempts(e.retry_after) from e
        try:
            if client is None:
                bits = limits.pow_bits(ticket.count(failures.key))
                if bits > pow_bits:  # uncounted: the page solves the puzzle and submits again
                    throttle.release(session, ticket)
                    raise ChallengeRequired(bits)
            try:
                holder = holder_of(session, account_no)
            except UnknownPayee:
                refusal = UnknownAccount("no electricity account with that number")
            else:
                throttle.release(session, ticket, [failures.key])  # a known account is no failed attempt
            for key in ticket.newly_locked():
                fraud.record_alert(session, now=now, kind=fraud.LOCKOUT, channel="terminal" if client else "web",
                                   client_id=client.client_id if client else None, ip=ip,
                                   details={"subject": key})
                log.warning("throttle lockout of %s (holder lookups)", key)
        except BaseException:
            throttle.abandon(ticket)  # the transaction rolls back: give back what it does not undo
            raise
    if refusal is not None:
        raise refusal
    assert holder is not None
    return holder
