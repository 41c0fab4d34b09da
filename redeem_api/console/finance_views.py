"""Finance pages: reconcile a channel's settlement file, the reports with CSV/PDF downloads, payment reversals.

Each page calls what the CLI calls: ``voucherctl reconcile`` (:func:`vouchers.books.formats.reconcile_payments`
and :func:`vouchers.books.reconcile.write_report_csv`), ``voucherctl report daily-close / liability /
collection`` (:mod:`vouchers.services.daily_close`, :mod:`vouchers.services.finance_reports`,
:mod:`vouchers.services.collection`) and ``voucherctl payments reverse`` (:mod:`vouchers.services.reversals`:
proposed by finance, confirmed by a different approver with a fresh code).
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from flask import Response, g, redirect, request, url_for
from werkzeug.utils import secure_filename

from redeem_api.console.gate import NAV_EXTRA, allowed, console, lang, now, page, refuse
from redeem_api.console.guard import guard
from redeem_api.console.report_data import report_session
from redeem_api.console.views import bp
from redeem_api.state import state
from vouchers.books import formats
from vouchers.books import payments as payment_service
from vouchers.books.channels import CHANNELS
from vouchers.books.errors import FileRejected, LedgerError, ReversalNotAllowed
from vouchers.books.reconcile import STATUSES, write_report_csv
from vouchers.books.reports.liability import liability_report
from vouchers.books.timeutil import end_of_day, local_date, start_of_day
from vouchers.errors import VoucherError
from vouchers.metering.billing import parse_period
from vouchers.metering.collection import report_csv as collection_csv
from vouchers.services import collection as collection_service
from vouchers.services import finance_reports, reversals
from vouchers.services.daily_close import daily_close
from vouchers.services.staff import record_action
from vouchers.staff.roles import APPROVER, FINANCE

FINANCE_PAGES = frozenset({FINANCE})
REVERSALS = frozenset({FINANCE, APPROVER})
PROPOSE = frozenset({FINANCE})
CONFIRM = frozenset({APPROVER})
REPORTS = ("daily_close", "liability", "collection")
RECONCILE_CHANNELS = tuple(c for c in CHANNELS if c != "voucher")
NAV_EXTRA.extend([("console.reconcile_form", "reconcile", FINANCE_PAGES),
                  ("console.finance_reports_page", "reports", FINANCE_PAGES),
                  ("console.reversals_page", "reversals", REVERSALS)])


def _download(body: bytes, name: str, mimetype: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """UTF-8 with a BOM, as ``--excel`` writes it (spreadsheets then read the Chinese right)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def _pdf(render) -> bytes:
    """Run a renderer that writes to a path; the file's bytes."""
    with tempfile.TemporaryDirectory(prefix="console-pdf-") as folder:
        path = Path(folder) / "report.pdf"
        render(path)
        return path.read_bytes()


# -- reconciliation ----------------------------------------------------------------------------

def _reconcile_page(status: int = 200, **extra) -> Response:
    return page("finance_reconcile.html", status, channels=RECONCILE_CHANNELS, file_formats=formats.FORMATS,
                statuses=STATUSES[1:], **extra)


@bp.get("/finance/reconcile")
@guard(FINANCE_PAGES)
def reconcile_form() -> Response:
    return _reconcile_page()


@bp.post("/finance/reconcile")
@guard(FINANCE_PAGES, form=True)
def reconcile_upload() -> Response:
    channel = request.form.get("channel", "")[:32]
    fmt = request.form.get("format", "generic")[:16]
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _reconcile_page(400, message="choose a settlement file")
    tz = state().config.settings.timezone
    who = g.console
    with tempfile.TemporaryDirectory(prefix="console-reconcile-") as folder:
        path = Path(folder) / (secure_filename(upload.filename) or "settlement.csv")
        upload.save(path)
        report = Path(folder) / "report.csv"
        try:
            with state().sessions.begin() as s:
                result = formats.reconcile_payments(s, channel, path, fmt=fmt, now=now(), actor=who.staff.username,
                                                    tz=tz)
                rows = write_report_csv(s, result, report, tz=tz, excel=True) if request.form.get("csv") else None
                record_action(s, who, action="console.reconcile", subject_type="reconciliation",
                              subject_id=str(result.run_id), now=now(),
                              details={"channel": channel, "file": path.name, "sha256": result.sha256,
                                       "matched": result.matched, "settled": result.settled_count})
        except FileRejected as e:
            return _reconcile_page(422, rejected=e, channel=channel)
        except (LedgerError, VoucherError) as e:
            return _reconcile_page(400, message=str(e), channel=channel)
        if rows is not None:
            return _download(report.read_bytes(), f"reconcile-{result.channel}-{result.run_id}.csv",
                             "text/csv; charset=utf-8")
    local = state().config.settings.tz
    return _reconcile_page(result=result, channel=channel, first_day=local_date(result.period_start, local),
                           last_day=local_date(result.period_end - dt.timedelta(microseconds=1), local))


# -- reports -----------------------------------------------------------------------------------

def _day(name: str, default: dt.date) -> dt.date:
    text = (request.args.get(name) or "").strip()
    return dt.date.fromisoformat(text) if text else default


@bp.get("/finance/reports")
@guard(FINANCE_PAGES)
def finance_reports_page() -> Response:
    settings = state().config.settings
    tz, currency = settings.timezone, settings.currency
    today = local_date(now(), tz)
    kind = request.args.get("report") or "daily_close"
    download = request.args.get("download")
    if kind not in REPORTS or download not in (None, "csv", "pdf"):
        return refuse(404, "not_found")
    try:
        day = _day("day", today - dt.timedelta(days=1))
        as_of = _day("as_of", today)
        month = (request.args.get("month") or f"{today:%Y-%m}").strip()[:7]
        first, last = parse_period(month)
    except (ValueError, VoucherError):
        return page("finance_reports.html", 400, message="dates: YYYY-MM-DD, month: YYYY-MM", kind=kind,
                    day=today, as_of=today, month=f"{today:%Y-%m}")
    context = {"kind": kind, "day": day, "as_of": as_of, "month": month}
    with report_session() as (s, data):  # the reports database; read-only
        context["data"] = data
        note = data.pdf_note  # PDFs state the data's as-of as the CLI's do; CSVs keep their contract's columns
        try:
            if kind == "daily_close":
                r = daily_close(s, day, tz=tz, currency=currency, now=now())
                if download == "csv":
                    body = _csv(finance_reports.DAILY_CLOSE_HEADER, finance_reports.daily_close_rows(r))
                elif download == "pdf":  # the web holds no audit key: no signed checkpoint on it
                    body = _pdf(lambda path: finance_reports.render_daily_close_pdf(path, r, data_note=note))
                context["close"] = r
                name = f"daily-close-{day}"
            elif kind == "liability":
                start, end = start_of_day(as_of.replace(day=1), tz), end_of_day(as_of, tz)
                r = liability_report(s, as_of=end, currency=currency, last_valid_day=as_of, period_start=start)
                if download == "csv":
                    body = _csv(finance_reports.LIABILITY_HEADER, finance_reports.liability_rows(r))
                elif download == "pdf":
                    body = _pdf(lambda path: finance_reports.render_liability_pdf(
                        s, path, r, first=as_of.replace(day=1), last=as_of, start=start, end=end, currency=currency,
                        tz=tz, branding=_branding(), data_note=note))
                context["liability"] = r
                name = f"liability-{as_of}"
            else:
                r = collection_service.collection_report(s, first=first, last=last, now=now(), currency=currency,
                                                         config=state().services.metering)
                if download == "csv":
                    body = collection_csv(r.analysis, r.months).encode("utf-8-sig")
                elif download == "pdf":
                    body = finance_reports.collection_pdf(r, lang=lang(), branding=_branding(), data_note=note)
                context["collection"] = r
                name = f"collection-{month}"
        except VoucherError as e:
            return page("finance_reports.html", 400, message=str(e), **context)
    if download:  # the audit trail is the primary's
        with state().sessions.begin() as s:
            record_action(s, g.console, action="console.report.download", subject_type="report", subject_id=kind,
                          now=now(), details={"format": download, "name": name})
    if download == "csv":
        return _download(body, f"{name}.csv", "text/csv; charset=utf-8")
    if download == "pdf":
        return _download(body, f"{name}.pdf", "application/pdf")
    return page("finance_reports.html", **context)


def _branding():
    return finance_reports.print_branding(state().config.branding)


# -- payment reversal: two people --------------------------------------------------------------

def _reversals_page(status: int = 200, **extra) -> Response:
    with state().sessions.begin() as s:
        pending = reversals.requests(s, status="pending")
        recent = reversals.requests(s, status=None, limit=20)
    who = g.console
    return page("finance_reversals.html", status, pending=pending, recent=recent, channels=RECONCILE_CHANNELS,
                can_propose=allowed(PROPOSE), can_confirm=allowed(CONFIRM), me=who.staff.username,
                done=request.args.get("done"), **extra)


@bp.get("/finance/reversals")
@guard(REVERSALS)
def reversals_page() -> Response:
    return _reversals_page()


@bp.post("/finance/reversals")
@guard(PROPOSE, form=True)
def propose_reversal() -> Response:
    typed_id = request.form.get("payment_id", "").strip()[:20]
    channel, ref = request.form.get("channel", "").strip()[:32], request.form.get("external_ref", "").strip()[:64]
    try:
        with state().sessions.begin() as s:
            if typed_id:
                if not typed_id.isdigit():
                    raise reversals.RequestRefused("a payment id is a number")
                payment_id = int(typed_id)
            else:
                found = payment_service.get_payment(s, channel, ref) if channel and ref else None
                if found is None:
                    raise reversals.RequestRefused("give a payment id, or a channel and its reference of a payment")
                payment_id = found.id
            made = reversals.propose(s, g.console, payment_id, reason=request.form.get("reason", "")[:600],
                                     now=now())
    except LedgerError as e:
        return _reversals_page(409 if isinstance(e, ReversalNotAllowed) else 404, message=str(e))
    except reversals.RequestRefused as e:
        return _reversals_page(400, message=str(e))
    return redirect(url_for("console.reversals_page", lang=lang(), done=f"proposed:{made.request_id}"), code=303)


def _decide(request_id: int, decision: str) -> Response:
    code = request.form.get("totp", "")[:16]
    try:
        with state().sessions.begin() as s:
            if decision == "confirm":
                reversals.confirm(s, g.console, request_id, totp_code=code, seal_key=console().seal_key, now=now())
            else:
                reversals.reject(s, g.console, request_id, reason=request.form.get("reason", "")[:600],
                                 totp_code=code, seal_key=console().seal_key, now=now())
    except reversals.RequestNotFound as e:
        return _reversals_page(404, message=str(e))
    except (reversals.SecondPersonRequired, reversals.ReviewRefused) as e:
        return _reversals_page(403, message=str(e))
    except (reversals.RequestRefused, LedgerError) as e:
        return _reversals_page(409, message=str(e))
    return redirect(url_for("console.reversals_page", lang=lang(), done=f"{decision}:{request_id}"), code=303)


@bp.post("/finance/reversals/<int:request_id>/confirm")
@guard(CONFIRM, form=True)
def confirm_reversal(request_id: int) -> Response:
    return _decide(request_id, "confirm")


@bp.post("/finance/reversals/<int:request_id>/reject")
@guard(CONFIRM, form=True)
def reject_reversal(request_id: int) -> Response:
    return _decide(request_id, "reject")
