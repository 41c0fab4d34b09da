"""Printing a batch with chain of custody: who printed what, when, which files."""
from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from issuer.batches import get_batch
from issuer.cardstore import card_file_path, read_cards
from issuer.errors import BatchStateError, IssuerError
from vouchers.keystore.store import KeyStore
from print_templates import BatchCover, PrintBranding, PrintError, RenderedFile, load_layout, render_batch
from vouchers.branding import NEUTRAL, Branding, InvalidBranding
from vouchers.display import local_text
from vouchers.storage import audit
from vouchers.storage.models import PrintJob
from vouchers.lifecycle import ISSUED_BATCH_STATES, check_batch_transition


class PrintRefused(IssuerError):
    code = "print_refused"


class PrintFailed(IssuerError):
    code = "print_failed"


def print_batch(session: Session, store: KeyStore, passphrase: str, batch_id: str, out_path: Path, *,
                layout_name: str, operator: str, now: dt.datetime, reprint: bool = False,
                reason: str | None = None, max_cards_per_file: int | None = None, workers: int | None = None,
                progress: Callable[[int], None] | None = None, tz: str = "Asia/Shanghai",
                branding: Branding = NEUTRAL) -> list[RenderedFile]:
    """Render the batch's cards to PDF; the first print moves it to ``printed``.

    Printing again needs ``reprint=True`` and a reason; both are audited. Times people read (the cover's
    print time, the refusal naming the first print) are business time ``tz`` (VOUCHER_TIMEZONE) with the offset.
    The first print records ``branding`` with the batch (:func:`branding_path`); a reprint uses that record, so
    the cards look the same even if the configured branding changed since.
    """
    local = zoneinfo.ZoneInfo(tz)
    try:
        layout = load_layout(layout_name)
    except PrintError as e:
        raise PrintRefused(str(e)) from e
    batch = get_batch(session, batch_id)
    if batch.status not in ISSUED_BATCH_STATES:
        raise BatchStateError(f"batch {batch_id} is {batch.status}: only approved, not void batches print")
    earlier = session.execute(select(PrintJob).where(PrintJob.batch_pk == batch.id, PrintJob.kind == "print")
                              .order_by(PrintJob.id)).scalars().first()
    if earlier is not None and not reprint:
        first_at = earlier.at if earlier.at.tzinfo else earlier.at.replace(tzinfo=dt.timezone.utc)  # SQLite: UTC
        raise PrintRefused(f"batch {batch_id} was printed on {local_text(first_at, local)} by {earlier.operator}: "
                           "use --reprint --reason TEXT")
    if reprint and not (reason and reason.strip()):
        raise PrintRefused("a reprint needs --reason")
    if reprint and earlier is None:
        raise PrintRefused(f"batch {batch_id} has not been printed yet: drop --reprint")

    identity = store.cardstore_identity(passphrase)
    record = branding_path(store.home, batch_id)
    recorded = read_branding(record)
    if recorded is not None:
        branding = recorded

    cover = BatchCover(batch_id=batch.batch_id, face_value=batch.face_value, currency=batch.currency,
                       count=batch.count, first_serial=batch.first_serial, last_serial=batch.last_serial,
                       expires=batch.expires, key_id=batch.key_id, card_data_sha256=batch.card_data_sha256,
                       printed_at=now.astimezone(local), operator=operator)
    try:
        files = render_batch(read_cards(card_file_path(store.home, batch_id), identity), cover, layout, out_path,
                             max_cards_per_file=max_cards_per_file, workers=workers, progress=progress,
                             branding=PrintBranding.from_branding(branding))
    except PrintError as e:
        raise PrintFailed(str(e)) from e
    try:
        manifest = [{"name": f.path.name, "sha256": f.sha256, "cards": f.card_count} for f in files]
        session.add(PrintJob(batch_pk=batch.id, kind="print", operator=operator, at=now, card_count=batch.count,
                             files=json.dumps(manifest), layout=layout_name, reprint_reason=reason if reprint else None))
        action = "batch.reprint" if reprint else "batch.print"
        target = batch.status
        if batch.status == "approved":
            check_batch_transition("approved", "printed")
            target = "printed"
        audit.record(session, now=now, actor=operator, action=action, subject_type="batch", subject_id=batch_id,
                     from_state=batch.status, to_state=target, reason=reason if reprint else None,
                     details={"layout": layout_name, "files": manifest,
                              "branding": branding_summary(branding)})
        batch.status = target
        session.flush()
        if recorded is None:
            write_branding(record, branding)
    except BaseException:
        for f in files:
            Path(f.path).unlink(missing_ok=True)
        raise
    return files


def branding_path(home: Path, batch_id: str) -> Path:
    """Where a batch's print branding is kept: next to its sealed card file."""
    return card_file_path(home, batch_id).with_name(f"{batch_id}.branding.json")


def read_branding(path: Path) -> Branding | None:
    """The branding a batch was first printed with; None before its first print (or for a batch
    printed before branding was recorded, which then records the branding in force now)."""
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return None
    except OSError as e:
        raise PrintRefused(f"cannot read the batch's branding record {path}: {e.strerror or e}") from e
    try:
        return Branding.from_document(json.loads(text))
    except (ValueError, InvalidBranding) as e:
        raise PrintRefused(f"the batch's branding record {path} is damaged: restore it from a backup") from e


def write_branding(path: Path, branding: Branding) -> None:
    """Write the record atomically (a temporary name, then rename): never a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.part")
    temp.write_text(json.dumps(branding.to_document(), ensure_ascii=False, sort_keys=True), "utf-8")
    temp.replace(path)


def branding_summary(branding: Branding) -> dict[str, object]:
    """What the audit trail says about the branding (the logo by its digest)."""
    return {"name_zh": branding.name_zh, "name_en": branding.name_en, "qr_url": branding.qr_url,
            "logo_sha256": branding.logo_sha256, "default": branding.is_default}
