"""Chain of custody around printing: who, when, which files; reprints audited."""
from __future__ import annotations

import datetime as dt
import dataclasses
import json
import os
import stat
import shutil
import subprocess

import pytest
from sqlalchemy import select

from issuer.batches import approve_batch, void_batch
from issuer.errors import BatchStateError
from issuer.printing import PrintRefused, branding_path, print_batch
from vouchers.branding import NEUTRAL
from vouchers.storage.models import AuditEvent, Batch, PrintJob
from vouchers.token import token_from_scan, verify_token

ACME = dataclasses.replace(NEUTRAL, name_zh="测试供电", name_en="Acme Power", redeem_url="https://pay.acme.example/redeem",
                           qr_url="https://pay.acme.example/r", hotline="400 100 2000", is_default=False)


def _print(issuer, batch_id, out, **kwargs):
    kwargs.setdefault("layout_name", "a4-cards")
    with issuer.sessions.begin() as session:
        return print_batch(session, issuer.store, issuer.passphrase, batch_id, out, operator="carol",
                           now=issuer.now, workers=1, **kwargs)


@pytest.fixture
def approved(issuer):
    summary = issuer.create(count=4)
    with issuer.sessions.begin() as session:
        approve_batch(session, summary.batch_id, "bob", issuer.now)
    return summary


def test_print_records_custody_and_moves_to_printed(issuer, approved, tmp_path):
    files = _print(issuer, approved.batch_id, tmp_path / "cards.pdf")
    assert [f.card_count for f in files] == [4]
    assert stat.S_IMODE(os.stat(tmp_path / "cards.pdf").st_mode) == 0o600
    with issuer.sessions() as session:
        batch = session.execute(select(Batch)).scalar_one()
        job = session.execute(select(PrintJob)).scalar_one()
        event = session.execute(select(AuditEvent).where(AuditEvent.action == "batch.print")).scalar_one()
    assert batch.status == "printed"
    assert (job.operator, job.card_count, job.layout, job.reprint_reason) == ("carol", 4, "a4-cards", None)
    assert json.loads(job.files) == [{"name": "cards.pdf", "sha256": files[0].sha256, "cards": 4}]
    assert (event.from_state, event.to_state, event.actor) == ("approved", "printed", "carol")


def test_reprint_needs_flag_and_reason(issuer, approved, tmp_path):
    _print(issuer, approved.batch_id, tmp_path / "a.pdf")
    with pytest.raises(PrintRefused, match="--reprint"):
        _print(issuer, approved.batch_id, tmp_path / "b.pdf")
    with pytest.raises(PrintRefused, match="--reason"):
        _print(issuer, approved.batch_id, tmp_path / "b.pdf", reprint=True)
    assert not (tmp_path / "b.pdf").exists()
    _print(issuer, approved.batch_id, tmp_path / "b.pdf", reprint=True, reason="printer jam",
           layout_name="receipt-80mm")
    with issuer.sessions() as session:
        reprint = session.execute(select(AuditEvent).where(AuditEvent.action == "batch.reprint")).scalar_one()
        jobs = session.execute(select(PrintJob).order_by(PrintJob.id)).scalars().all()
    assert reprint.reason == "printer jam" and [j.reprint_reason for j in jobs] == [None, "printer jam"]


def test_draft_void_and_unknown_layout_refused_without_files(issuer, tmp_path, now):
    draft = issuer.create(count=2)
    with pytest.raises(BatchStateError):
        _print(issuer, draft.batch_id, tmp_path / "d.pdf")
    with pytest.raises(PrintRefused, match="unknown layout"):
        _print(issuer, draft.batch_id, tmp_path / "d.pdf", layout_name="no-such-layout")
    with issuer.sessions.begin() as session:
        approve_batch(session, draft.batch_id, "bob", now)
        void_batch(session, draft.batch_id, "lost", "bob", now)
    with pytest.raises(BatchStateError):
        _print(issuer, draft.batch_id, tmp_path / "d.pdf")
    assert list(tmp_path.glob("*.pdf")) == [] and list(tmp_path.glob(".*")) == []


def test_unwritable_path_leaves_nothing(issuer, approved, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    with pytest.raises(Exception):
        _print(issuer, approved.batch_id, locked / "missing-dir" / "x.pdf")
    with issuer.sessions() as session:
        assert session.execute(select(PrintJob)).first() is None
        assert session.execute(select(Batch.status)).scalar_one() == "approved"


@pytest.mark.skipif(not (shutil.which("zbarimg") and shutil.which("pdftoppm")), reason="needs zbar-tools and poppler")
def test_printed_qr_codes_scan_and_verify(issuer, approved, tmp_path, db_url):
    if not db_url.startswith("sqlite"):
        pytest.skip("rendering does not depend on the database")
    _print(issuer, approved.batch_id, tmp_path / "cards.pdf", branding=ACME)
    urls = _scan_qr(tmp_path / "cards.pdf", tmp_path)
    assert urls and all(u.lower().startswith("https://pay.acme.example/r#ev1:") for u in urls), urls[:1]
    ring = issuer.store.keyring()
    serials = sorted(verify_token(token_from_scan(u), ring, issuer.now.date()).serial for u in urls)
    assert len(serials) == 4 and serials[0] == approved.first_serial and serials[-1] == approved.last_serial
    png = next(tmp_path.glob("page*.png"))
    barcodes = subprocess.run(["zbarimg", "--raw", "-q", "-Sdisable", "-Scode128.enable", str(png)],
                              capture_output=True, text=True).stdout.splitlines()
    assert sorted(barcodes) == serials


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils")
def test_cover_and_refusal_name_the_first_print_in_business_time(issuer, approved, tmp_path, db_url):
    """Issue 22: the cover said +00:00 and the refusal "15:41 UTC"; both read Beijing time with the offset.

    15:59:30 UTC is 23:59 on the 26th in Beijing: the local day, not the UTC one."""
    if not db_url.startswith("sqlite"):
        pytest.skip("the wording does not depend on the database")
    late = dt.datetime(2026, 11, 26, 15, 59, 30, tzinfo=dt.timezone.utc)
    with issuer.sessions.begin() as session:
        print_batch(session, issuer.store, issuer.passphrase, approved.batch_id, tmp_path / "a.pdf",
                    layout_name="a4-cards", operator="carol", now=late, workers=1, tz="Asia/Shanghai")
    cover = subprocess.run(["pdftotext", "-f", "1", "-l", "1", str(tmp_path / "a.pdf"), "-"], capture_output=True,
                           text=True, check=True).stdout
    assert "2026-11-26 23:59 (UTC+8)" in cover and "+00:00" not in cover
    with pytest.raises(PrintRefused) as refused:
        _print(issuer, approved.batch_id, tmp_path / "b.pdf")
    assert "printed on 2026-11-26 23:59 (UTC+8) by carol" in str(refused.value)
    assert "UTC by" not in str(refused.value)


def _export(issuer, batch_id, out, **kwargs):
    from issuer.export import export_batch

    return export_batch(issuer.sessions, issuer.store, issuer.passphrase, batch_id, issuer.store.cardstore_recipient(),
                        out, operator=kwargs.pop("operator", "carol"), now=issuer.now, **kwargs)


def test_a_repeat_export_needs_flag_and_reason_like_a_reprint(issuer, approved, tmp_path):
    """``batch export`` could be repeated silently (another copy of every code) while a reprint needed a reason."""
    from issuer.export import ExportRefused

    with pytest.raises(ExportRefused, match="has not been exported yet: drop --reexport"):
        _export(issuer, approved.batch_id, tmp_path / "a.age", reexport=True, reason="x")
    _export(issuer, approved.batch_id, tmp_path / "a.age")  # the first export: unchanged, no flag
    with pytest.raises(ExportRefused, match=r"already exported \(1 time\(s\), by carol\).*--reexport --reason"):
        _export(issuer, approved.batch_id, tmp_path / "b.age", operator="dave")
    for reason in (None, "  "):
        with pytest.raises(ExportRefused, match="needs --reason"):
            _export(issuer, approved.batch_id, tmp_path / "b.age", reexport=True, reason=reason)
    assert not (tmp_path / "b.age").exists() and not list(tmp_path.glob("*.partial"))
    _export(issuer, approved.batch_id, tmp_path / "b.age", reexport=True, reason="print house lost the file",
            operator="dave")
    with issuer.sessions() as session:
        events = session.execute(select(AuditEvent.action, AuditEvent.actor, AuditEvent.reason)
                                 .where(AuditEvent.action.like("batch.%export")).order_by(AuditEvent.id)).all()
        jobs = session.execute(select(PrintJob.kind, PrintJob.reprint_reason).order_by(PrintJob.id)).all()
    assert [tuple(e) for e in events] == [("batch.export", "carol", None),
                                          ("batch.reexport", "dave", "print house lost the file")]
    assert [tuple(j) for j in jobs] == [("export", None), ("export", "print house lost the file")]


def _scan_qr(pdf, tmp_path) -> list[str]:
    for old in tmp_path.glob("page*.png"):
        old.unlink()
    # a4-cards prints both sides: the cover, its blank back, then the first sheet of fronts (page 3)
    subprocess.run(["pdftoppm", "-r", "300", "-png", "-f", "3", "-l", "3", str(pdf), str(tmp_path / "page")],
                   check=True)
    png = next(tmp_path.glob("page*.png"))
    return subprocess.run(["zbarimg", "--raw", "-q", "-Sdisable", "-Sqrcode.enable", str(png)],
                          capture_output=True, text=True).stdout.splitlines()


@pytest.mark.skipif(not (shutil.which("zbarimg") and shutil.which("pdftotext")), reason="needs zbar-tools and poppler")
def test_a_reprint_looks_like_the_first_print_whatever_the_branding_now(issuer, approved, tmp_path, db_url):
    if not db_url.startswith("sqlite"):
        pytest.skip("rendering does not depend on the database")
    _print(issuer, approved.batch_id, tmp_path / "first.pdf", branding=ACME)
    assert branding_path(issuer.store.home, approved.batch_id).is_file()
    rebranded = dataclasses.replace(ACME, name_en="Other Power", qr_url="https://other.example/r")
    _print(issuer, approved.batch_id, tmp_path / "again.pdf", branding=rebranded, reprint=True, reason="jam")
    text = subprocess.run(["pdftotext", str(tmp_path / "again.pdf"), "-"], capture_output=True, text=True).stdout
    assert "Acme Power" in text and "Other Power" not in text
    assert all(u.lower().startswith("https://pay.acme.example/r#") for u in _scan_qr(tmp_path / "again.pdf", tmp_path))
    with issuer.sessions() as session:
        events = session.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars().all()
    recorded = [json.loads(e.details)["branding"] for e in events if e.action in ("batch.print", "batch.reprint")]
    assert [r["name_en"] for r in recorded] == ["Acme Power", "Acme Power"]


def test_two_concurrent_first_exports_write_one_file(issuer, approved, tmp_path, monkeypatch):
    """Two first exports at once both passed the "already exported?" check and both wrote every code. The
    export is now claimed (committed) before its file is opened; a barrier holds both exports just before
    their claims, so both have passed that check: one claims and writes, the other is refused and writes
    nothing (no file, no partial file, no print job, no audit event)."""
    import threading

    from issuer import export
    from issuer.export import ExportRefused

    barrier = threading.Barrier(2, timeout=30)
    real_claim = export._claim

    def claim_together(*args, **kwargs):  # type: ignore[no-untyped-def]
        barrier.wait()
        return real_claim(*args, **kwargs)

    monkeypatch.setattr(export, "_claim", claim_together)
    outcomes: dict[str, object] = {}

    def run(name: str) -> None:
        try:
            outcomes[name] = _export(issuer, approved.batch_id, tmp_path / f"{name}.age", operator=name)
        except Exception as e:  # noqa: BLE001 - recorded and checked below
            outcomes[name] = e

    threads = [threading.Thread(target=run, args=(name,)) for name in ("carol", "dave")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    done = {n: r for n, r in outcomes.items() if isinstance(r, export.ExportResult)}
    refused = {n: r for n, r in outcomes.items() if isinstance(r, ExportRefused)}
    assert len(done) == 1 and len(refused) == 1, outcomes
    [(winner, result)], [(loser, error)] = done.items(), refused.items()
    assert "exported by another process" in str(error) and "--reexport --reason" in str(error)
    assert "\n" not in str(error)
    assert (tmp_path / f"{winner}.age").exists() and not (tmp_path / f"{loser}.age").exists()
    assert not list(tmp_path.glob("*.partial"))
    with issuer.sessions() as session:
        jobs = session.execute(select(PrintJob.operator, PrintJob.card_count, PrintJob.files)).all()
        events = session.execute(select(AuditEvent.action, AuditEvent.actor)
                                 .where(AuditEvent.action.like("batch.%export"))).all()
    assert [(j.operator, j.card_count, json.loads(j.files)[0]["sha256"]) for j in jobs] == [
        (winner, approved.count, result.sha256)]
    assert [tuple(e) for e in events] == [("batch.export", winner)]


def test_a_failed_export_releases_its_claim(issuer, approved, tmp_path):
    """An export that fails before its file is complete forgets its claim: the next first export needs no
    --reexport (the codes were not handed out)."""
    from issuer.errors import ExportError

    with pytest.raises(ExportError):  # the card file is read only after the claim: fail while writing
        _export(issuer, approved.batch_id, tmp_path / "missing" / "a.age")
    with issuer.sessions() as session:
        assert session.execute(select(PrintJob.id)).all() == []
    _export(issuer, approved.batch_id, tmp_path / "a.age")
