"""``voucherctl audit``: read and verify the hash-chained audit log."""
from __future__ import annotations

import click
from sqlalchemy import select

from storage.audit import verify_chain
from storage.models import AuditEvent
from voucherctl import context
from voucherctl.output import CliError, emit, json_option
from vouchers.text import printable


@click.group()
def audit() -> None:
    """The tamper-evident audit log (every lifecycle transition)."""


@audit.command("verify")
@json_option
def verify(as_json: bool) -> None:
    """Recompute the hash chain; exit non-zero if any event was edited, inserted or deleted."""
    with context.sessions().begin() as session:
        problems = list(verify_chain(session))
        total = session.query(AuditEvent).count()
    document = {"events": total, "ok": not problems,
                "problems": [{"event_id": p.event_id, "problem": p.problem} for p in problems]}
    if problems:
        if as_json:
            emit(True, document)
        first = problems[0]
        raise CliError(f"audit chain broken at event {first.event_id}: {first.problem} "
                       f"({len(problems)} problem(s) in {total} events)")
    emit(as_json, document, f"audit chain intact: {total} events")


@audit.command("list")
@click.option("--subject", default=None, help="Only events about this batch id / serial / key id.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100_000))
@json_option
def list_events(subject: str | None, limit: int, as_json: bool) -> None:
    """Newest events first."""
    with context.sessions().begin() as session:
        query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
        if subject:
            query = query.where(AuditEvent.subject_id == subject)
        events = [{"id": e.id, "at": e.at.isoformat(), "actor": e.actor, "action": e.action,
                   "subject": f"{e.subject_type}:{e.subject_id}", "from": e.from_state, "to": e.to_state,
                   "reason": e.reason} for e in session.execute(query).scalars()]
    # one line an event, even for events written before actors and reasons were checked
    emit(as_json, {"events": events}, lambda: [click.echo(
        f"{e['id']:>6} {e['at']} {printable(e['actor']):<14} {e['action']:<18} {e['subject']:<24} "
        f"{e['from'] or '':>9} -> {e['to'] or ''} {printable(e['reason'] or '')}") for e in events])
