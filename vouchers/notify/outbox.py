"""Deliver the two notification outboxes (``outbox_messages``, ``metering_notifications``).

At-least-once: a short claim transaction leases due rows (``next_attempt_at``
= now + lease; on PostgreSQL the candidates are picked ``FOR UPDATE SKIP
LOCKED``, and the lease update re-checks that the row is still due, which is
what makes SQLite's single writer safe too), so two concurrent senders never
send the same message at the same time. The gateway is called outside any
transaction, then the outcome is written in its own transaction: sent, or
``attempts`` + 1, ``last_error`` and the next attempt after an exponential
backoff, or dead after ``max_attempts``. A sender that dies mid-send leaves
a lease that expires: the message goes out again with the same idempotency
id, so the gateway can drop the duplicate.

Message bodies are never logged (an STS token is what the customer types).
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Table, and_, func, null, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from vouchers.notify.backoff import retry_delay
from vouchers.notify.errors import GatewayError, RenderError
from vouchers.notify.gateway import SmsGateway, SmsMessage
from vouchers.notify.render import DEFAULT_TZ, render
from vouchers.storage.api_models import OutboxMessage
from vouchers.storage.metering_models import MeteringNotification

log = logging.getLogger(__name__)

# source name -> (table, idempotency id prefix)
SOURCES: dict[str, tuple[Table, str]] = {
    "outbox": (OutboxMessage.__table__, "om"),  # type: ignore[dict-item]
    "metering": (MeteringNotification.__table__, "mn"),  # type: ignore[dict-item]
}
DEFAULT_LEASE = dt.timedelta(minutes=5)
DEFAULT_MAX_ATTEMPTS = 8


@dataclass
class SendResult:
    sent: int = 0
    failed: int = 0
    dead: int = 0
    by_source: dict[str, dict[str, int]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {"sent": self.sent, "failed": self.failed, "dead": self.dead, "by_source": self.by_source}

    def _count(self, source: str, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)
        counts = self.by_source.setdefault(source, {"sent": 0, "failed": 0, "dead": 0})
        counts[outcome] += 1


@dataclass(frozen=True)
class _Claimed:
    id: int
    kind: str
    account_no: str
    payload: str
    attempts: int
    recipient: str | None = None  # outbox_messages only: a reply to an SMS top-up's sender


def _one_line(text: str, limit: int = 300) -> str:
    return " ".join(text.split())[:limit]


def _due(t: Table, now: dt.datetime):  # type: ignore[no-untyped-def]
    return and_(t.c.sent_at.is_(None), t.c.dead_at.is_(None),
                or_(t.c.next_attempt_at.is_(None), t.c.next_attempt_at <= now))


def count_due(sessions: sessionmaker[Session], now: dt.datetime) -> int:
    with sessions.begin() as session:
        return sum(session.execute(select(func.count()).select_from(t).where(_due(t, now))).scalar_one()
                   for t, _ in SOURCES.values())


def claim(session: Session, source: str, *, now: dt.datetime, limit: int, lease: dt.timedelta = DEFAULT_LEASE,
          after_id: int = 0) -> list[_Claimed]:
    """Lease up to ``limit`` due rows of one outbox (ids above ``after_id``) to this sender.

    Call inside a short transaction of its own.
    """
    return _claim(session, source, now=now, limit=limit, lease=lease, after_id=after_id)[1]


def _claim(session: Session, source: str, *, now: dt.datetime, limit: int, lease: dt.timedelta,
           after_id: int) -> tuple[int | None, list[_Claimed]]:
    """(highest id picked or None if nothing was due, the rows this sender won)."""
    t, _ = SOURCES[source]
    pick = select(t.c.id).where(_due(t, now), t.c.id > after_id).order_by(t.c.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    ids = list(session.execute(pick).scalars())
    if not ids:
        return None, []
    recipient = t.c.recipient if "recipient" in t.c else null().label("recipient")
    rows = session.execute(
        update(t).where(t.c.id.in_(ids), _due(t, now)).values(next_attempt_at=now + lease)
        .returning(t.c.id, t.c.kind, t.c.account_no, t.c.payload, t.c.attempts, recipient)).all()
    return max(ids), sorted((_Claimed(r.id, r.kind, r.account_no, r.payload, r.attempts or 0, r.recipient)
                             for r in rows), key=lambda c: c.id)


def _record_sent(session: Session, t: Table, row: _Claimed, now: dt.datetime) -> None:
    session.execute(update(t).where(t.c.id == row.id)
                    .values(sent_at=now, next_attempt_at=None, attempts=row.attempts + 1))


def _record_failure(session: Session, t: Table, row: _Claimed, error: str, now: dt.datetime, *,
                    max_attempts: int, permanent: bool) -> bool:
    """Write one failed attempt; True if the message is now dead."""
    attempts = row.attempts + 1
    dead = permanent or attempts >= max_attempts
    session.execute(update(t).where(t.c.id == row.id).values(
        attempts=attempts, last_error=_one_line(error),
        next_attempt_at=None if dead else now + retry_delay(attempts), dead_at=now if dead else None))
    return dead


def send_due(sessions: sessionmaker[Session], gateway: SmsGateway, *, clock: Callable[[], dt.datetime],
             lang: str = "zh", limit: int | None = None, max_attempts: int = DEFAULT_MAX_ATTEMPTS,
             batch_size: int = 20, lease: dt.timedelta = DEFAULT_LEASE, tz: dt.tzinfo = DEFAULT_TZ,
             on_progress: Callable[[int], None] = lambda n: None) -> SendResult:
    """Send every due message of both outboxes (at most ``limit``); one attempt per message per run.

    ``clock`` is read at every claim and every outcome, so leases and backoff
    stay right during a long run. ``lease`` must outlast sending one batch
    (``batch_size`` x the gateway's timeout), or another sender may take the
    batch's last messages while this one still holds them.
    """
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    result = SendResult()
    remaining = limit
    for source, (t, prefix) in SOURCES.items():
        after_id = 0  # by id, so a message failing in this run is not tried again in this run
        while remaining is None or remaining > 0:
            take = batch_size if remaining is None else min(batch_size, remaining)
            with sessions.begin() as session:
                last, claimed = _claim(session, source, now=clock(), limit=take, lease=lease, after_id=after_id)
            if last is None:
                break
            after_id = last  # rows another sender won meanwhile are simply passed over
            for row in claimed:
                _deliver(sessions, gateway, source, t, prefix, row, clock=clock, lang=lang, tz=tz,
                         max_attempts=max_attempts, result=result)
                on_progress(1)
            if remaining is not None:
                remaining -= len(claimed)
    return result


def _deliver(sessions: sessionmaker[Session], gateway: SmsGateway, source: str, t: Table, prefix: str,
             row: _Claimed, *, clock: Callable[[], dt.datetime], lang: str, tz: dt.tzinfo, max_attempts: int,
             result: SendResult) -> None:
    error: str | None = None
    permanent = False
    try:
        text = render(row.kind, row.payload, lang=lang, tz=tz)
        gateway.send(SmsMessage(idempotency_id=f"{prefix}-{row.id}", account_no=row.account_no, kind=row.kind,
                                lang=lang, text=text, recipient=row.recipient))
    except RenderError as e:
        error, permanent = f"{e.code}: {e}", True
    except GatewayError as e:
        error = f"{e.code}: {e}"
    now = clock()
    with sessions.begin() as session:
        if error is None:
            _record_sent(session, t, row, now)
            result._count(source, "sent")
            log.info("sent %s message %s (%s)", source, row.id, row.kind)
            return
        dead = _record_failure(session, t, row, error, now, max_attempts=max_attempts, permanent=permanent)
    result._count(source, "dead" if dead else "failed")
    # INFO, not WARNING: the CLI ends with one summary line; each message's failure shows with -v
    log.info("%s message %s (%s) %s: %s", source, row.id, row.kind, "dead" if dead else "failed", error)


@dataclass(frozen=True)
class Listed:
    source: str
    id: int
    kind: str
    account_no: str
    created_at: dt.datetime
    attempts: int
    last_error: str | None
    next_attempt_at: dt.datetime | None
    sent_at: dt.datetime | None
    dead_at: dt.datetime | None

    @property
    def status(self) -> str:
        return "sent" if self.sent_at else "dead" if self.dead_at else "unsent"

    def as_dict(self) -> dict[str, object]:
        iso = lambda v: v.isoformat() if v else None  # noqa: E731
        return {"source": self.source, "id": self.id, "kind": self.kind, "account_no": self.account_no,
                "status": self.status, "attempts": self.attempts, "last_error": self.last_error,
                "created_at": iso(self.created_at), "next_attempt_at": iso(self.next_attempt_at),
                "sent_at": iso(self.sent_at), "dead_at": iso(self.dead_at)}


def list_messages(session: Session, *, status: str | None = None, limit: int = 100) -> list[Listed]:
    """Messages of both outboxes (never their bodies), oldest first; ``status`` unsent | dead | None (all)."""
    found: list[Listed] = []
    for source, (t, _) in SOURCES.items():
        stmt = select(t.c.id, t.c.kind, t.c.account_no, t.c.created_at, t.c.attempts, t.c.last_error,
                      t.c.next_attempt_at, t.c.sent_at, t.c.dead_at).order_by(t.c.id).limit(limit)
        if status == "unsent":
            stmt = stmt.where(t.c.sent_at.is_(None), t.c.dead_at.is_(None))
        elif status == "dead":
            stmt = stmt.where(t.c.dead_at.is_not(None))
        found.extend(Listed(source, r.id, r.kind, r.account_no, r.created_at, r.attempts or 0, r.last_error,
                            r.next_attempt_at, r.sent_at, r.dead_at) for r in session.execute(stmt))
    order = list(SOURCES)
    return sorted(found, key=lambda m: (m.created_at, order.index(m.source), m.id))[:limit]

