"""Reconciliation (对账): a channel's settlement file against that channel's booked payments.

Over the file's period (its first to its last local day, or the period an
adapter read from the file's header):

- ``matched``: same reference, amount, currency and account;
- ``amount_mismatch``: same reference, another amount or currency;
- ``account_mismatch``: same reference and amount, another account (reported, not settled);
- ``missing_in_books``: in the file, not booked (or booked and reversed);
- ``missing_in_file``: booked in the period, not in the file.

Confirmed matches are settled - Dr bank, Cr clearing:<channel> - exactly once:
each payment carries the reconciliation run that settled it, so reconciling
the same file again finds them settled and posts nothing. When the file gives
a channel fee per line (an adapter's ``fees``), the settlement books it:
Dr bank (gross - fee), Dr expense:channel_fees (fee), Cr clearing (gross).

Refund lines an adapter read (``refunds``) are applied first
(:mod:`vouchers.books.refunds`): a full refund of a booked, unsettled payment reverses
it, once; a trade line whose payment a refund undid is ``refunded``, not
``missing_in_books``.
"""
from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from vouchers.books import chart, journal
from vouchers.books.accounts import ensure_accounts, lock_accounts
from vouchers.books.channels import get_channel
from vouchers.books.csvformat import MAX_REPORTED_ERRORS, PaymentLine, text_cell
from vouchers.books.errors import FileRejected, LineError, ReconciliationError
from vouchers.books.refunds import UNDONE, RefundLine, RefundOutcome, apply_refunds
from vouchers.books.sql import db_time, is_postgres
from vouchers.books.staging import STAGE, OnRead, create_stage, stage_file, stage_items
from vouchers.storage.files import file_sha256
from vouchers.books.timeutil import DEFAULT_TZ, end_of_day, from_db, local_date, start_of_day, utc, zone
from vouchers.display import local_iso
from vouchers.storage import audit
from vouchers.storage.ledger_models import ReconciliationRun
from vouchers.money import format_amount

STATUSES = ("matched", "amount_mismatch", "account_mismatch", "missing_in_books", "missing_in_file")


@dataclass
class ReconcileResult:
    run_id: int
    channel: str
    file_name: str
    sha256: str
    period_start: dt.datetime
    period_end: dt.datetime
    lines: int
    matched: int
    missing_in_books: list[str] = field(default_factory=list)
    missing_in_file: list[str] = field(default_factory=list)
    amount_mismatch: list[str] = field(default_factory=list)
    account_mismatch: list[str] = field(default_factory=list)
    settled_count: int = 0
    settled_amounts: dict[str, int] = field(default_factory=dict)
    already_settled: int = 0
    settlement_transaction_ids: tuple[int, ...] = ()
    skipped: list[LineError] = field(default_factory=list)  # lines an adapter does not reconcile
    settled_fees: dict[str, int] = field(default_factory=dict)  # channel fees booked with the settlement
    refunds: list[RefundOutcome] = field(default_factory=list)
    refunded: list[str] = field(default_factory=list)  # trade lines whose payment a refund undid
    fees: Mapping[str, int] = field(default_factory=dict, repr=False)  # per line, as the file gave them

    @property
    def refunds_missing_in_books(self) -> list[str]:
        return [o.refund.external_ref for o in self.refunds if o.status == "missing_in_books"]

    def contract_document(self) -> dict[str, object]:
        """The document of docs/contract.md §4, plus what else finance needs."""
        currencies = sorted(self.settled_amounts)
        return {
            "matched": self.matched, "missing_in_books": self.missing_in_books,
            "missing_in_file": self.missing_in_file, "amount_mismatch": self.amount_mismatch,
            "account_mismatch": self.account_mismatch, "channel": self.channel, "run_id": self.run_id,
            "file": self.file_name, "sha256": self.sha256, "lines": self.lines,
            "period": {"start": self.period_start.isoformat(), "end": self.period_end.isoformat()},
            "settled": {"count": self.settled_count,
                        "amounts": {c: format_amount(a) for c, a in sorted(self.settled_amounts.items())},
                        "transaction_ids": list(self.settlement_transaction_ids),
                        "fees": {c: format_amount(self.settled_fees.get(c, 0)) for c in currencies},
                        "net": {c: format_amount(self.settled_amounts[c] - self.settled_fees.get(c, 0))
                                for c in currencies}},
            "already_settled": self.already_settled,
            "skipped": [e.as_dict() for e in self.skipped],
            "refunded": self.refunded, "refunds_missing_in_books": self.refunds_missing_in_books,
            "refunds": [o.as_dict() for o in self.refunds],
        }


def reconcile_file(session: Session, channel: str, path: Path, *, now: dt.datetime, actor: str,
                   tz: str = DEFAULT_TZ, period: tuple[dt.datetime, dt.datetime] | None = None,
                   on_read: OnRead | None = None) -> ReconcileResult:
    """Reconcile a generic-format settlement file (docs/contract.md §6.3); ``on_read``: how far staging has read it."""
    chan = _channel(channel)
    path = Path(path)
    sha = file_sha256(path)
    _, (errors, total) = stage_file(session, path, tz, on_read=on_read)
    return _run(session, chan, path.name, sha, errors, total, now=now, actor=actor, tz=tz, period=period)


def reconcile_lines(session: Session, channel: str, items: Iterable[PaymentLine | LineError], *, file_name: str,
                    sha256: str, now: dt.datetime, actor: str, tz: str = DEFAULT_TZ,
                    period: tuple[dt.datetime, dt.datetime] | None = None, fees: Mapping[str, int] | None = None,
                    refunds: Sequence[RefundLine] = ()) -> ReconcileResult:
    """Reconcile lines produced by an adapter (its header usually gives the period).

    ``fees``: the channel fee of each payment line by reference (minor units);
    ``refunds``: the file's refund lines.
    """
    chan = _channel(channel)
    create_stage(session)
    errors, total = stage_items(session, items)
    return _run(session, chan, file_name, sha256, errors, total, now=now, actor=actor, tz=tz, period=period,
                fees=fees or {}, refunds=refunds)


def _channel(channel: str):
    chan = get_channel(channel)
    if not chan.settles:
        raise ReconciliationError(f"channel {channel} sends no settlement file")
    return chan


def _run(session: Session, chan, file_name: str, sha256: str, errors: list[LineError], total: int, *,
         now: dt.datetime, actor: str, tz: str, period: tuple[dt.datetime, dt.datetime] | None,
         fees: Mapping[str, int] | None = None, refunds: Sequence[RefundLine] = ()) -> ReconcileResult:
    dup = session.execute(text(
        f"SELECT s.line_no, s.external_ref, d.first_line FROM {STAGE} s JOIN (SELECT external_ref, "
        f"min(line_no) AS first_line FROM {STAGE} GROUP BY external_ref HAVING count(*) > 1) d "
        "ON d.external_ref = s.external_ref WHERE s.line_no > d.first_line ORDER BY s.line_no "
        f"LIMIT {MAX_REPORTED_ERRORS}")).all()
    errors = errors + [LineError(int(n), f"external_ref {ref} appears again (first on line {first})", ref)
                       for n, ref, first in dup]
    if errors:
        errors.sort(key=lambda e: e.line)
        raise FileRejected(f"{total + len(dup)} bad line(s) in the settlement file; nothing was reconciled",
                           errors[:MAX_REPORTED_ERRORS], total + len(dup))
    if is_postgres(session):
        session.execute(text("SET LOCAL work_mem = '256MB'"))
        # lookups by reference from the books' side stay index scans whatever the planner guesses
        session.execute(text(f"CREATE INDEX IF NOT EXISTS {STAGE}_ref ON {STAGE} (external_ref)"))
        session.execute(text(f"ANALYZE {STAGE}"))
        session.execute(text("ANALYZE payments"))  # a fresh import leaves no statistics: plans would nest loops
    lines, first, last = session.execute(text(f"SELECT count(*), min(paid_at), max(paid_at) FROM {STAGE}")).one()
    if period is None:
        if not lines:
            raise ReconciliationError("the settlement file has no lines and no period: nothing to reconcile")
        first_utc, last_utc = _as_utc(first), _as_utc(last)
        period = (start_of_day(local_date(first_utc, tz), tz), end_of_day(local_date(last_utc, tz), tz))
    start, end = utc(period[0]), utc(period[1])
    if start >= end:
        raise ReconciliationError("the reconciliation period is empty")
    currencies = sorted({c for (c,) in session.execute(text(f"SELECT DISTINCT currency FROM {STAGE}")).all()}
                        | {c for (c,) in session.execute(text(
                            "SELECT DISTINCT currency FROM payments WHERE channel = :c"), {"c": chan.code}).all()})
    ids = ensure_accounts(session, [(code, c) for c in currencies for code in (chart.BANK, chan.clearing_account)],
                          now)
    lock_accounts(session, ids.values())  # before touching payments: reversals lock the clearing row first too
    run = ReconciliationRun(channel=chan.code, file_name=file_name[:255], file_sha256=sha256, period_start=start,
                            period_end=end, lines=lines, matched=0, missing_in_books=0, missing_in_file=0,
                            amount_mismatch=0, settled_count=0, settled_amount=0, run_at=utc(now), actor=actor)
    session.add(run)
    session.flush()
    result = ReconcileResult(run.id, chan.code, file_name, sha256, start, end, lines, 0, fees=fees or {})
    # refunds first: a payment refunded in this file is neither matched nor settled
    result.refunds = apply_refunds(session, chan.code, refunds, now=now, actor=actor, file_name=file_name)
    undone = {o.refund.external_ref for o in result.refunds if o.status in UNDONE}
    params = {"c": chan.code, "start": db_time(session, start), "end": db_time(session, end), "run": run.id}
    result.matched = session.execute(text(f"SELECT count(*) FROM ({_MATCHED}) m"), params).scalar_one()
    result.amount_mismatch = _refs(session, _AMOUNT_MISMATCH, params)
    result.account_mismatch = _refs(session, _ACCOUNT_MISMATCH, params)
    missing = _refs(session, _MISSING_IN_BOOKS, params)
    result.missing_in_books = [ref for ref in missing if ref not in undone]
    result.refunded = [ref for ref in missing if ref in undone]
    result.missing_in_file = _refs(session, _MISSING_IN_FILE, params)
    _settle(session, chan, result, ids, params, now=now, actor=actor)
    run.matched, run.amount_mismatch = result.matched, len(result.amount_mismatch) + len(result.account_mismatch)
    run.missing_in_books, run.missing_in_file = len(result.missing_in_books), len(result.missing_in_file)
    run.settled_count, run.settled_amount = result.settled_count, sum(result.settled_amounts.values())
    run.settlement_transaction_id = result.settlement_transaction_ids[0] if result.settlement_transaction_ids else None
    audit.record(session, now=utc(now), actor=actor, action="reconcile", subject_type="reconciliation",
                 subject_id=str(run.id), details={
                     "channel": chan.code, "file": file_name[:255], "sha256": sha256, "matched": result.matched,
                     "amount_mismatch": len(result.amount_mismatch), "account_mismatch": len(result.account_mismatch),
                     "missing_in_books": len(result.missing_in_books),
                     "missing_in_file": len(result.missing_in_file), "settled": result.settled_count,
                     "settled_amounts": result.settled_amounts, "settled_fees": result.settled_fees,
                     "refunds": {status: sum(1 for o in result.refunds if o.status == status)
                                 for status in sorted({o.status for o in result.refunds})}})
    session.flush()
    return result


def _as_utc(value) -> dt.datetime:
    if isinstance(value, str):  # SQLite staging keeps UTC text
        return dt.datetime.fromisoformat(value).replace(tzinfo=dt.timezone.utc)
    return from_db(value) or value


# rows of the file (s) against booked payments (p) of the channel; references are matched whatever
# the payment's date, the period only bounds what is missing in the file
_JOIN = f"FROM {STAGE} s JOIN payments p ON p.channel = :c AND p.external_ref = s.external_ref AND p.status = 'booked'"
_MATCHED = (f"SELECT p.id, p.currency, p.amount, p.reconciliation_id {_JOIN} "
            "WHERE p.amount = s.amount AND p.currency = s.currency AND p.customer_id = s.customer_id")
_AMOUNT_MISMATCH = f"SELECT s.line_no, s.external_ref {_JOIN} WHERE p.amount <> s.amount OR p.currency <> s.currency"
_ACCOUNT_MISMATCH = (f"SELECT s.line_no, s.external_ref {_JOIN} WHERE p.amount = s.amount AND p.currency = s.currency "
                     "AND (s.customer_id IS NULL OR p.customer_id <> s.customer_id)")
_MISSING_IN_BOOKS = (f"SELECT s.line_no, s.external_ref FROM {STAGE} s WHERE NOT EXISTS (SELECT 1 FROM payments p "
                     "WHERE p.channel = :c AND p.external_ref = s.external_ref AND p.status = 'booked')")
_MISSING_IN_FILE = ("SELECT p.paid_at, p.external_ref FROM payments p WHERE p.channel = :c AND p.status = 'booked' "
                    "AND p.paid_at >= :start AND p.paid_at < :end AND NOT EXISTS "
                    f"(SELECT 1 FROM {STAGE} s WHERE s.external_ref = p.external_ref)")


def _refs(session: Session, sql: str, params: dict) -> list[str]:
    return [ref for _, ref in session.execute(text(f"{sql} ORDER BY 1, 2"), params).all()]


def _settle(session: Session, chan, result: ReconcileResult, ids: dict, params: dict, *, now: dt.datetime,
            actor: str) -> None:
    """Settle the matched payments not settled before, once: Dr bank (net), Dr channel fees, Cr clearing (gross)."""
    rows = session.execute(text(
        "SELECT m.currency, count(*), coalesce(sum(m.amount), 0), "
        "sum(CASE WHEN m.reconciliation_id IS NOT NULL THEN 1 ELSE 0 END) "
        f"FROM ({_MATCHED}) m GROUP BY m.currency"), params).all()
    result.already_settled = sum(int(r[3]) for r in rows)
    changed = session.execute(text(
        f"UPDATE payments AS p SET reconciliation_id = :run FROM {STAGE} AS s "
        "WHERE p.channel = :c AND p.external_ref = s.external_ref AND p.status = 'booked' "
        "AND p.amount = s.amount AND p.currency = s.currency AND p.customer_id = s.customer_id "
        "AND p.reconciliation_id IS NULL"), params).rowcount
    if not changed:
        return
    amounts = {c: int(a) for c, a in session.execute(text(
        "SELECT currency, sum(amount) FROM payments WHERE reconciliation_id = :run GROUP BY currency"),
        {"run": params["run"]}).all()}
    fees = _settled_fees(session, result.fees, params["run"])
    transaction_ids = []
    for currency, amount in sorted(amounts.items()):
        fee = fees.get(currency, 0)
        posted = journal.post(session, journal.Entry(
            kind="settlement", source=f"settlement:{chan.code}", external_ref=f"run:{params['run']}:{currency}",
            legs=(journal.debit(chart.BANK, amount - fee, currency), journal.debit(chart.CHANNEL_FEES, fee, currency),
                  journal.credit(chan.clearing_account, amount, currency)),
            occurred_at=now, actor=actor, memo=f"settlement of {chan.code}, reconciliation {params['run']}"), now=now)
        transaction_ids.append(posted.transaction_id)
    result.settled_count = changed
    result.settled_amounts = amounts
    result.settled_fees = {c: f for c, f in sorted(fees.items()) if f}
    result.settlement_transaction_ids = tuple(transaction_ids)


def _settled_fees(session: Session, fees: Mapping[str, int], run_id: int) -> dict[str, int]:
    """The file's fees of the payments this run settles, per currency (none for a file without fees)."""
    if not fees:
        return {}
    total: dict[str, int] = {}
    for ref, currency in session.execute(text(
            "SELECT external_ref, currency FROM payments WHERE reconciliation_id = :run"), {"run": run_id}).all():
        total[currency] = total.get(currency, 0) + fees.get(ref, 0)
    return total


def iter_report_rows(session: Session, channel: str, start: dt.datetime, end: dt.datetime, tz: str | None = None
                     ) -> Iterator[tuple[str, str, str, str, str, str]]:
    """Every line of the staged file and every booked payment of the period, with its status.

    ``paid_at`` is ISO 8601 in business time ``tz`` with its offset (``2026-12-06T09:00:00+08:00``).

    Call in the same transaction as the reconciliation (the stage is temporary).
    Yields (status, external_ref, account_no, file_amount, book_amount, paid_at).
    """
    params = {"c": channel, "start": db_time(session, utc(start)), "end": db_time(session, utc(end))}
    sql = (
        "SELECT CASE WHEN p.id IS NULL THEN 'missing_in_books' "
        "  WHEN p.amount <> s.amount OR p.currency <> s.currency THEN 'amount_mismatch' "
        "  WHEN s.customer_id IS NULL OR p.customer_id <> s.customer_id THEN 'account_mismatch' "
        "  ELSE 'matched' END, s.external_ref, s.account_no, s.amount, p.amount, s.paid_at, s.line_no "
        f"FROM {STAGE} s LEFT JOIN payments p ON p.channel = :c AND p.external_ref = s.external_ref "
        "  AND p.status = 'booked' "
        "UNION ALL "
        "SELECT 'missing_in_file', p.external_ref, c.account_no, NULL, p.amount, p.paid_at, NULL "
        "FROM payments p JOIN customer_accounts c ON c.id = p.customer_id WHERE p.channel = :c "
        "AND p.status = 'booked' AND p.paid_at >= :start AND p.paid_at < :end "
        f"AND NOT EXISTS (SELECT 1 FROM {STAGE} s WHERE s.external_ref = p.external_ref) "
        "ORDER BY 7, 2")
    result = session.execute(text(sql).execution_options(yield_per=10_000), params)
    local = zone(tz)
    for status, ref, account_no, file_amount, book_amount, paid_at, _ in result:
        if isinstance(paid_at, str):  # SQLite hands the staged or stored UTC time back as text, without a zone
            paid_at = dt.datetime.fromisoformat(paid_at)
        stamp = local_iso(from_db(paid_at), local)
        yield (status, ref, account_no or "", format_amount(int(file_amount)) if file_amount is not None else "",
               format_amount(int(book_amount)) if book_amount is not None else "", stamp)


def write_report_csv(session: Session, result: ReconcileResult, path: Path, *, tz: str | None = None,
                     excel: bool = False) -> int:
    """The line-by-line reconciliation as UTF-8 CSV (``excel``: with a BOM); returns the number of rows.

    Times are business time ``tz`` with their offset.

    Trade lines whose payment a refund undid read ``refunded``; each refund line
    follows as ``refund_<outcome>`` (:mod:`vouchers.books.refunds`). ``fee`` is the channel
    fee the file gives for the line (fee charged; for a refund, the fee given back).
    A reference that a spreadsheet would run as a formula (booked before such
    references were refused) gets a leading ``'``; amounts are never touched.
    """
    count = 0
    refunded = set(result.refunded)
    local = zone(tz)
    with Path(path).open("w", encoding="utf-8-sig" if excel else "utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["status", "external_ref", "account_no", "file_amount", "book_amount", "paid_at", "fee"])
        for status, ref, *rest in iter_report_rows(session, result.channel, result.period_start, result.period_end,
                                                   tz):
            if status == "missing_in_books" and ref in refunded:
                status = "refunded"
            fee = result.fees.get(ref) if status != "missing_in_file" else None
            writer.writerow([status, text_cell(ref), *rest, format_amount(fee) if fee is not None else ""])
            count += 1
        for outcome in result.refunds:
            r = outcome.refund
            writer.writerow([f"refund_{outcome.status}", text_cell(r.external_ref), r.account_no or "",
                             format_amount(r.amount),
                             format_amount(outcome.book_amount) if outcome.book_amount is not None else "",
                             local_iso(r.refunded_at, local), format_amount(r.fee_returned)])
            count += 1
    return count
