"""``voucherctl requests``: what the web console asked of the issuer process (list, fulfil).

The console cannot sign, open the card store or write the key store; a new
batch, a print run, an export to the print house, closing a batch and a
revocation confirmed by two people wait as requests until an issuer operator
(an admin, for a key) carries them out here with the same functions as
``batch create/print/export/close`` and ``keys revoke``.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import click

from voucherctl import context
from voucherctl.batch_cmd import generate, render
from voucherctl.output import OPERATOR, CliError, emit, json_option
from voucherctl.staff_auth import prove
from vouchers.batch_request import BatchRequest
from vouchers.services import batch_desk
from vouchers.staff.roles import ADMIN, ISSUER_OPERATOR


def _document(row: batch_desk.RequestRow) -> dict:
    document = dataclasses.asdict(row)
    for key in ("requested_at", "decided_at", "done_at"):
        document[key] = document[key].isoformat() if document[key] else None
    document["waits_for_issuer"] = row.waits_for_issuer
    return document


@click.group()
def requests() -> None:
    """Requests from the web console for the issuer process (new batches, prints, exports, closes, key revokes)."""


@requests.command("list")
@click.option("--all", "show_all", is_flag=True, help="Also those done, rejected or still needing a second person.")
@json_option
def list_requests(show_all: bool, as_json: bool) -> None:
    """The requests waiting for the issuer process (newest first)."""
    with context.sessions().begin() as session:
        rows = batch_desk.list_requests(session, open_only=not show_all)
    if not show_all:
        rows = [r for r in rows if r.waits_for_issuer]
    emit(as_json, {"requests": [_document(r) for r in rows]}, lambda: [
        click.echo(f"{r.id:>6}  {r.kind:<13} {r.status:<9} {r.subject_id or '-':<12} by {r.requested_by}"
                   f"{'' if r.decided_by is None else ', confirmed by ' + r.decided_by}  {r.params}")
        for r in rows] or click.echo("no requests waiting"))


@requests.command("fulfil")
@click.argument("request_id", type=int)
@click.option("--operator", required=True, type=OPERATOR,
              help="Who carries it out here (once staff exist: the logged-in issuer operator; an admin for a key).")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="For a print (PDF) or an export (age file): where to write it.")
@click.option("--workers", type=click.IntRange(1), default=None, help="Signing or rendering processes.")
@json_option
def fulfil(request_id: int, operator: str, out_path: Path | None, workers: int | None, as_json: bool) -> None:
    """Carry out request REQUEST_ID with the same functions as the matching `batch`/`keys` command."""
    with context.sessions().begin() as session:
        row = batch_desk.for_issuer(session, request_id)
    if row.kind in ("batch_print", "batch_export") and out_path is None:
        raise CliError(f"request {request_id} is a {row.kind.split('_')[1]}: --out is required")
    role = ADMIN if row.kind == "key_revoke" else ISSUER_OPERATOR

    def proven(session) -> str:
        return prove(session, operator, action="request_fulfil", subject_type="staff_request",
                     subject_id=str(request_id), role=role)

    if row.kind == "batch_create":
        p = row.params
        request = BatchRequest(face_value=int(p["face_value"]), count=int(p["count"]),
                               expires=dt.date.fromisoformat(p["expires"]), currency=p["currency"],
                               operator=row.requested_by)
        done_by = None

        def maker(session) -> str:  # the maker who asked stays the creator: they cannot approve it
            nonlocal done_by
            done_by = proven(session)
            return row.requested_by

        summary = generate(request, maker, workers)
        with context.sessions().begin() as session:
            batch_desk.mark_done(session, request_id, done_by=done_by or operator, subject_id=summary.batch_id,
                                 result={"batch_id": summary.batch_id, "first_serial": summary.first_serial,
                                         "last_serial": summary.last_serial}, now=context.now())
        emit(as_json, {"request_id": request_id, "batch_id": summary.batch_id, "status": summary.status},
             f"request {request_id}: created {summary.batch_id} ({summary.count} cards, draft, created by "
             f"{row.requested_by}; an approver other than them approves it)")
        return
    if row.kind == "batch_export":  # the export claims itself in its own transactions (issuer.export._claim)
        from issuer.export import export_batch

        with context.sessions().begin() as session:
            done_by = proven(session)
        now = context.now()
        exported = export_batch(context.sessions(), context.key_store(), context.passphrase(), row.subject_id,
                                row.params["recipient"], out_path, operator=done_by, now=now)
        result = {"file": Path(exported.path).name, "sha256": exported.sha256, "count": exported.count}
        with context.sessions().begin() as session:
            batch_desk.mark_done(session, request_id, done_by=done_by, subject_id=row.subject_id, result=result,
                                 now=now)
    else:
        done_by, result = _carry_out(row, proven, out_path, workers)
    emit(as_json, {"request_id": request_id, "kind": row.kind, "subject_id": row.subject_id, **result},
         f"request {request_id}: {row.kind} of {row.subject_id} done by {done_by}")


def _carry_out(row, proven, out_path: Path | None, workers: int | None) -> tuple[str, dict]:
    """Print, close or revoke in one transaction with the proof of who did it and the request marked done."""
    with context.sessions().begin() as session:
        done_by = proven(session)
        now = context.now()
        if row.kind == "batch_print":
            files = render(row.subject_id, out_path, layout=row.params["layout"], operator=done_by,
                           workers=workers, session=session)
            result = {"files": [{"name": f.path.name, "sha256": f.sha256, "cards": f.card_count} for f in files]}
        elif row.kind == "batch_close":
            from issuer.batches import close_batch

            close_batch(session, row.subject_id, done_by, now, context.settings().home)
            result = {"status": "closed"}
        else:  # key_revoke, confirmed by a second person in the console
            from issuer.signing_keys import revoke_key

            revoke_key(context.key_store(), row.subject_id, now)
            result = {"revoked": row.subject_id}
        batch_desk.mark_done(session, row.id, done_by=done_by, subject_id=row.subject_id, result=result, now=now)
    return done_by, result
