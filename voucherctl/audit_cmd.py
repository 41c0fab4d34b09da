"""``voucherctl audit``: read and verify the hash-chained audit log; sign checkpoints of its head."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from sqlalchemy.orm import Session

from vouchers.services.service_desk import audit_events, audit_status
from voucherctl import context
from voucherctl.output import CliError, emit, json_option
from vouchers.text import printable

if TYPE_CHECKING:
    from vouchers.storage.audit_checkpoint import Checkpoint
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


@click.group()
def audit() -> None:
    """The tamper-evident audit log (every lifecycle transition)."""


CHECKPOINT_LOG = "audit-checkpoints.jsonl"  # convenience copies under VOUCHER_HOME; the real ones live elsewhere


@audit.command("checkpoint")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None, metavar="FILE",
              help="Also write it to FILE (created 0600; an existing FILE is refused).")
@json_option
def checkpoint(out: Path | None, as_json: bool) -> None:
    """Sign the chain's head (newest event, its hash, the count, the time): keep it OUTSIDE the database.

    `audit verify --checkpoint FILE` then detects a rewrite or truncation of the log up to that
    event, even one that recomputed the hash chain. Signed with the audit-checkpoint key of the
    key store (created if missing); a copy is appended to VOUCHER_HOME/audit-checkpoints.jsonl.
    """
    from vouchers.storage.audit_checkpoint import chain_head

    if out is not None and out.exists():
        raise CliError(f"--out {out} exists: a checkpoint never replaces another, choose a new file")
    with context.sessions().begin() as session:
        head = chain_head(session, context.now())
    document, line = sign_and_keep(head, out)

    def human() -> None:
        click.echo(f"audit checkpoint: newest event {head.event_id} ({head.events} events), hash {head.hash[:16]}..., "
                   f"{document['at']}; " + (f"written to {out}" if out else "keep the line below outside the database"))
        if out is None:
            click.echo(line.decode("ascii"), nl=False)

    emit(as_json, document, human)


def sign_and_keep(head: Checkpoint, out: Path | None = None) -> tuple[dict[str, Any], bytes]:
    """Sign ``head`` with the audit-checkpoint key (created if missing), append it to the local log (and
    write it to ``out``); the document and its line. ``report daily-close`` signs its day's head this way."""
    from vouchers.keystore.audit_key import ensure_audit_key, load_audit_key
    from vouchers.keystore.files import append_private, write_private
    from vouchers.storage.audit_checkpoint import sign

    store, phrase = context.key_store(), context.passphrase()
    ensure_audit_key(store, phrase)
    document = sign(head, load_audit_key(store, phrase))
    line = (json.dumps(document, separators=(",", ":")) + "\n").encode("ascii")
    log_path = Path(context.settings().home) / CHECKPOINT_LOG
    try:
        if out is not None:
            write_private(out, line)
        append_private(log_path, line)
    except OSError as e:
        raise CliError(f"cannot write the checkpoint to {e.filename or out}: {e.strerror}") from e
    return document, line


def _checkpoint_documents(paths: tuple[Path, ...]) -> Iterator[tuple[str, object]]:
    """(label, parsed JSON or None if unreadable) for each checkpoint: one per file, or one per line (JSON lines)."""
    for path in paths:
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError):
            yield str(path), None
            continue
        try:
            yield str(path), json.loads(text)
            continue
        except ValueError:
            pass
        lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
        if not lines:
            yield str(path), None
        for n, line in lines:
            try:
                yield f"{path}:{n}", json.loads(line)
            except ValueError:
                yield f"{path}:{n}", None


@audit.command("verify")
@click.option("--checkpoint", "checkpoints", multiple=True, metavar="FILE",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Also check against a signed checkpoint (repeatable; JSON lines files hold several). "
                   "Needs VOUCHER_KEY_PASSPHRASE.")
@json_option
def verify(checkpoints: tuple[Path, ...], as_json: bool) -> None:
    """Recompute the hash chain; exit non-zero if any event was edited, inserted or deleted.

    With --checkpoint, also exit non-zero if a checkpoint is not validly signed by this key store's
    audit-checkpoint key, or if the log no longer holds the event it recorded with the same hash
    (rewritten, or truncated at or before it).
    """
    trusted = None
    if checkpoints:
        from vouchers.keystore.audit_key import load_audit_key

        trusted = load_audit_key(context.key_store(), context.passphrase()).public_key()
    with context.sessions().begin() as session:
        status = audit_status(session)
        problems: list[dict[str, Any]] = [{"event_id": event_id, "problem": problem}
                                          for event_id, problem in status.problems]
        total = status.events
        checked = [] if trusted is None else _check_checkpoints(session, checkpoints, trusted, problems)
    document: dict[str, Any] = {"events": total, "ok": not problems, "problems": problems}
    if checkpoints:
        document["checkpoints"] = checked
    if problems:
        if as_json:
            emit(True, document)
        first = problems[0]
        where = (f"checkpoint {first['checkpoint']}" if "checkpoint" in first
                 else f"chain broken at event {first['event_id']}")
        raise CliError(f"audit {where}: {first['problem']} ({len(problems)} problem(s) in {total} events)")
    emit(as_json, document, f"audit chain intact: {total} events"
         + (f"; matches {len(checked)} checkpoint(s)" if checked else ""))


def _check_checkpoints(session: Session, paths: tuple[Path, ...], trusted: Ed25519PublicKey,
                       problems: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Append each checkpoint's problems to ``problems``; the checkpoints that were validly signed."""
    from vouchers.storage.audit_checkpoint import InvalidCheckpoint, compare
    from vouchers.storage.audit_checkpoint import verify as verify_checkpoint

    checked = []
    for label, parsed in _checkpoint_documents(paths):
        try:
            if parsed is None:
                raise InvalidCheckpoint("unreadable, or not JSON")
            point = verify_checkpoint(parsed, trusted)
        except InvalidCheckpoint as e:
            problems.append({"event_id": None, "checkpoint": label, "problem": f"refused: {e}"})
            continue
        found = compare(session, point)
        problems.extend({"event_id": point.event_id, "checkpoint": label, "problem": p} for p in found)
        checked.append({"checkpoint": label, "event_id": point.event_id, "events": point.events,
                        "at": context.when_iso(point.at), "ok": not found})
    return checked


@audit.command("list")
@click.option("--subject", default=None, help="Only events about this batch id / serial / key id.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100_000))
@json_option
def list_events(subject: str | None, limit: int, as_json: bool) -> None:
    """Newest events first."""
    with context.sessions().begin() as session:
        events = [{"id": e.id, "at": context.when_iso(e.at), "actor": e.actor, "action": e.action,
                   "subject": e.subject, "from": e.from_state, "to": e.to_state,
                   "reason": e.reason} for e in audit_events(session, subject=subject, limit=limit)]
    # one line an event, even for events written before actors and reasons were checked
    emit(as_json, {"events": events}, lambda: [click.echo(
        f"{e['id']:>6} {e['at']} {printable(e['actor']):<14} {e['action']:<18} {e['subject']:<24} "
        f"{e['from'] or '':>9} -> {e['to'] or ''} {printable(e['reason'] or '')}") for e in events])
