"""``voucherctl batch``: create, approve, print, export, consign, activate, void, show, list."""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from pathlib import Path

import click

from issuer import batches as batch_service
from issuer.export import export_batch
from voucherctl import context
from voucherctl.staff_auth import prove, prove_checker, totp_option
from vouchers.staff.roles import ISSUER_OPERATOR
from voucherctl.output import OPERATOR, REASON, CliError, emit, json_option, progress
from vouchers.money import format_amount, parse_positive_amount
from vouchers.services import batch_desk


def _summary_json(summary: batch_service.BatchSummary) -> dict:
    document = dataclasses.asdict(summary)
    document["face_value"] = format_amount(summary.face_value)
    document["expires"] = summary.expires.isoformat()
    context.local_times(document, summary, "created_at")
    return document


def _parse_date(text: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as e:
        raise CliError(f"{option} must be a date like 2027-12-31, got {text!r}") from e


@click.group()
def batch() -> None:
    """Voucher batches: draft -> approved (second person) -> printed -> shipped -> closed, or void."""


def generate(request: batch_service.BatchRequest, maker, workers: int | None) -> batch_service.BatchSummary:
    """Generate a draft batch in the issuer process: ``batch create`` and a console request (``requests fulfil``).

    ``maker(session)`` proves who the maker is and returns the name recorded as the batch's creator.
    """
    settings = context.settings()
    now = context.now()
    today = settings.local_date(now)
    batch_service.validate_request(request, today=today, max_count=settings.max_batch_size)
    store = context.key_store()
    phrase = context.passphrase()  # the signing key; checked first, so a web-only process is told so
    web_phrase = context.web_passphrase()  # the pepper that hashes the codes
    factory = context.sessions()
    with factory.begin() as session:
        request = dataclasses.replace(request, operator=maker(session))
    with progress(request.count, "generating") as advance:
        return batch_service.create_batch(factory, store, phrase, request, web_passphrase=web_phrase,
                                          now=now, today=today,
                                          issuer_code=settings.issuer_code, max_count=settings.max_batch_size,
                                          workers=workers, progress=advance)


@batch.command("create")
@click.option("--face-value", required=True, help="Face value as a decimal, e.g. 100.00")
@click.option("--count", required=True, type=int, help="Number of vouchers.")
@click.option("--expires", required=True, help="Last valid day, YYYY-MM-DD.")
@click.option("--operator", required=True, type=OPERATOR, help="Who creates it (cannot approve it).")
@click.option("--currency", default=None, help="ISO 4217 code (default VOUCHER_CURRENCY or CNY).")
@click.option("--workers", type=click.IntRange(1), default=None, help="Signing processes (default: one per core).")
@json_option
def create(face_value: str, count: int, expires: str, operator: str, currency: str | None, workers: int | None,
           as_json: bool) -> None:
    """Generate a signed batch in one transaction (all or nothing)."""
    settings = context.settings()
    request = batch_service.BatchRequest(
        face_value=parse_positive_amount(face_value), count=count, expires=_parse_date(expires, "--expires"),
        currency=(currency or settings.currency).upper(), operator=operator.strip())

    def maker(session) -> str:  # once staff exist, the logged-in issuer operator
        return prove(session, request.operator, action="batch_create", subject_type="batch", subject_id="new",
                     role=ISSUER_OPERATOR)

    summary = generate(request, maker, workers)
    emit(as_json, _summary_json(summary),
         f"created {summary.batch_id}: {summary.count} x {format_amount(summary.face_value)} {summary.currency}, "
         f"serials {summary.first_serial}..{summary.last_serial}, status draft (needs approval by someone else)")


@batch.command("approve")
@click.argument("batch_id")
@click.option("--operator", required=True, type=OPERATOR, help="The approver; must differ from the creator.")
@totp_option
@json_option
def approve(batch_id: str, operator: str, totp_code: str | None, as_json: bool) -> None:
    """Second-person approval: the batch's creator is refused."""
    with context.sessions().begin() as session:
        operator = prove_checker(session, operator, action="batch_approve", subject_type="batch",
                                 subject_id=batch_id, totp_code=totp_code)
        summary = batch_service.approve_batch(session, batch_id, operator, context.now())
    emit(as_json, _summary_json(summary), f"approved {batch_id} by {operator}")


@batch.command("void")
@click.argument("batch_id")
@click.option("--reason", required=True, type=REASON, help="Why (lost, stolen, misprint...).")
@click.option("--operator", default="operator", show_default=True, type=OPERATOR,
              help="Once staff exist: the logged-in approver (with --totp).")
@totp_option
@json_option
def void(batch_id: str, reason: str, operator: str, totp_code: str | None, as_json: bool) -> None:
    """Void lost or stolen stock: its vouchers can never be redeemed."""
    with context.sessions().begin() as session:
        operator = prove_checker(session, operator, action="batch_void", subject_type="batch", subject_id=batch_id,
                                 totp_code=totp_code)
        voided_batch, voided = batch_desk.void_batch(session, batch_id, reason, operator, context.now())
        summary = batch_service.BatchSummary.of(voided_batch)
    emit(as_json, {**_summary_json(summary), "vouchers_voided": voided}, f"voided {batch_id} ({voided} vouchers)")


@batch.command("ship")
@click.argument("batch_id")
@click.option("--operator", required=True, type=OPERATOR, help="Who hands the printed stock over.")
@json_option
def ship(batch_id: str, operator: str, as_json: bool) -> None:
    """Printed stock left for the distributors."""
    with context.sessions().begin() as session:
        summary = batch_service.transition_batch(session, batch_id, "shipped", operator, context.now())
    emit(as_json, _summary_json(summary), f"{batch_id} shipped")


@batch.command("close")
@click.argument("batch_id")
@click.option("--operator", required=True, type=OPERATOR)
@json_option
def close(batch_id: str, operator: str, as_json: bool) -> None:
    """End of life once no voucher can be sold or redeemed; destroys the sealed card file."""
    with context.sessions().begin() as session:
        summary = batch_service.close_batch(session, batch_id, operator, context.now(), context.settings().home)
    emit(as_json, _summary_json(summary), f"{batch_id} closed; its sealed card file is destroyed")


@batch.command("show")
@click.argument("batch_id")
@json_option
def show(batch_id: str, as_json: bool) -> None:
    """One batch with its voucher counts by status, and by holder (distributor consigned to) and status."""
    with context.sessions().begin() as session:
        record = batch_service.get_batch(session, batch_id)
        document = {**_summary_json(batch_service.BatchSummary.of(record)),
                    "vouchers_by_status": batch_service.status_counts(session, record),
                    "stock_by_holder": batch_service.stock_by_holder(session, record)}
    emit(as_json, document)


@batch.command("list")
@json_option
def list_batches(as_json: bool) -> None:
    """All batches, oldest first."""
    with context.sessions().begin() as session:
        summaries = batch_service.list_batches(session)
    emit(as_json, {"batches": [_summary_json(s) for s in summaries]}, lambda: [
        click.echo(f"{s.batch_id}  {s.status:<9} {s.count:>9} x {format_amount(s.face_value):>9} {s.currency} "
                   f"expires {s.expires}  by {s.created_by}") for s in summaries] or click.echo("no batches"))


@batch.command("export")
@click.argument("batch_id")
@click.option("--recipient", required=True, help="The print house's age X25519 recipient (age1...).")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--operator", default="operator", show_default=True, type=OPERATOR)
@click.option("--reexport", is_flag=True, help="Export a batch again (needs --reason; audited), as --reprint does.")
@click.option("--reason", default=None, type=REASON, help="Why another copy of the codes is needed.")
@json_option
def export(batch_id: str, recipient: str, out_path: Path, operator: str, reexport: bool, reason: str | None,
           as_json: bool) -> None:
    """Write the age-encrypted CSV the print house opens with `age -d -i key.txt`. Files are 0600.

    A batch is exported once; another copy needs --reexport --reason (audited), as a reprint does."""
    store = context.key_store()
    phrase = context.passphrase()
    result = export_batch(context.sessions(), store, phrase, batch_id, recipient, out_path, operator=operator,
                          now=context.now(), reexport=reexport, reason=reason)
    emit(as_json, dataclasses.asdict(result), f"exported {result.count} vouchers of {batch_id} to {result.path}")


def render(batch_id: str, out_path: Path, *, layout: str, operator: str, reprint: bool = False,
           reason: str | None = None, max_cards_per_file: int | None = 5000, workers: int | None = None,
           session=None) -> list:
    """Print a batch with custody (``batch print`` and a console print request): the PDF files written.

    ``session``: the caller's transaction (the request is marked done in it), else one of its own."""
    from issuer.printing import print_batch

    store = context.key_store()
    phrase = context.passphrase()
    with contextlib.ExitStack() as stack:
        if session is None:
            session = stack.enter_context(context.sessions().begin())
        count = batch_service.get_batch(session, batch_id).count
        with progress(count, "rendering") as advance:
            return print_batch(session, store, phrase, batch_id, out_path, layout_name=layout, operator=operator,
                               now=context.now(), reprint=reprint, reason=reason,
                               max_cards_per_file=max_cards_per_file, workers=workers, progress=advance,
                               tz=context.settings().timezone, branding=context.branding())


@batch.command("print")
@click.argument("batch_id", required=False)
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="PDF to write; numbered out-0001.pdf ... when split.")
@click.option("--layout", default="a4-cards", show_default=True, help="Card layout (see --list-layouts).")
@click.option("--list-layouts", is_flag=True, help="List the available layouts and exit.")
@click.option("--max-cards-per-file", type=click.IntRange(1), default=5000, show_default=True,
              help="Split into numbered files of at most N cards (keeps memory flat).")
@click.option("--workers", type=click.IntRange(1), default=None, help="Rendering processes (default: one per core).")
@click.option("--operator", default="operator", show_default=True, type=OPERATOR, help="Who prints (recorded).")
@click.option("--reprint", is_flag=True, help="Print a batch again (needs --reason; audited).")
@click.option("--reason", default=None, type=REASON, help="Why a reprint is needed.")
@json_option
def print_(batch_id: str | None, out_path: Path | None, layout: str, list_layouts: bool,
           max_cards_per_file: int | None, workers: int | None, operator: str, reprint: bool, reason: str | None,
           as_json: bool) -> None:
    """Render printable PDF cards: QR = signed token, Code 128 = serial. Files are 0600."""
    from print_templates import list_layouts as available_layouts

    if list_layouts:
        names = available_layouts()
        emit(as_json, {"layouts": names}, "\n".join(names))
        return
    if not batch_id or out_path is None:
        raise CliError("BATCH and --out are required (or use --list-layouts)")
    files = render(batch_id, out_path, layout=layout, operator=operator, reprint=reprint, reason=reason,
                   max_cards_per_file=max_cards_per_file, workers=workers)
    document = {"batch_id": batch_id, "layout": layout,
                "files": [{"path": str(f.path), "sha256": f.sha256, "cards": f.card_count, "pages": f.pages}
                          for f in files]}
    emit(as_json, document, lambda: [click.echo(f"{f.path}  {f.card_count} cards  sha256 {f.sha256}") for f in files])


try:  # the books add consignment and sale activation
    from voucherctl.activate_cmd import activate as _activate
    from voucherctl.activate_cmd import consign as _consign

    batch.add_command(_consign, "consign")
    batch.add_command(_activate, "activate")
except ModuleNotFoundError as _e:
    if _e.name != "voucherctl.activate_cmd":
        raise
