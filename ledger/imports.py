"""Import a channel's payments file: all or nothing, set-based, streamed.

1. Stage: on PostgreSQL the raw file is COPYed into a temporary table and
   checked in SQL (fast path); any line that does not pass there - and always
   on SQLite or for adapted formats - the file is read by the reference
   parser of :mod:`ledger.csvformat`, which reports every bad line.
2. Check against the books, set-based: duplicate references in the file,
   unknown accounts, currency differences, references already booked with
   another amount or account (conflicts). Any bad line rejects the whole file.
   Lines already booked identically are duplicates: skipped, so re-importing a
   file changes nothing.
3. Book: lock the balance rows in id order, allocate each payment (arrears
   oldest bill first, in the order the customer paid; the rest prepaid) with
   window functions, then write one journal transaction per file and currency
   (Dr clearing:<channel>; Cr each customer's arrears and prepaid), one
   payments row per line (the subledger), the bill allocations and the bills.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from ledger import journal
from ledger.accounts import ensure_accounts
from ledger.channels import payment_channel
from ledger.csvformat import MAX_REPORTED_ERRORS, PaymentLine
from ledger.errors import FileRejected, LineError
from ledger.sql import is_postgres
from ledger.staging import (
    ALLOC,
    STAGE,
    create_alloc,
    create_stage,
    stage_file,
    stage_items,
)
from ledger.timeutil import DEFAULT_TZ, utc
from storage import audit
from storage.ledger_models import PaymentImport

# A generic-format line is well under 300 bytes (reference <= 64, account, amount, currency, time).
# Longer physical lines are refused before anything is staged or parsed: no line is read into memory
# whole, whatever the file holds (a file of one gigabyte-long line costs a streamed pass, nothing more).
MAX_LINE_BYTES = 4096


@dataclass(frozen=True)
class ImportResult:
    import_id: int
    channel: str
    file_name: str
    sha256: str
    lines: int
    booked: int
    duplicates: int
    amounts: dict[str, int]  # booked, per currency
    transaction_ids: tuple[int, ...]
    fast_path: bool
    skipped: tuple[LineError, ...] = ()  # lines an adapter recognised but does not book (e.g. refunds)


def import_file(session: Session, channel: str, path: Path, *, now: dt.datetime, actor: str,
                tz: str = DEFAULT_TZ) -> ImportResult:
    """Import a generic-format file (CONTRACT.md) for ``channel``."""
    payment_channel(channel)
    path = Path(path)
    sha = check_line_lengths(path)
    fast, found = stage_file(session, path, tz)
    return _book(session, channel, file_name=path.name, sha256=sha, now=now, actor=actor, fast_path=fast,
                 line_errors=found)


def import_lines(session: Session, channel: str, items: Iterable[PaymentLine | LineError], *, file_name: str,
                 sha256: str, now: dt.datetime, actor: str) -> ImportResult:
    """Import lines produced by an adapter (e.g. :mod:`ledger.adapters.alipay`)."""
    payment_channel(channel)
    create_stage(session)
    found = stage_items(session, items)
    return _book(session, channel, file_name=file_name, sha256=sha256, now=now, actor=actor, fast_path=False,
                 line_errors=found)


def check_line_lengths(path: Path, limit: int = MAX_LINE_BYTES) -> str:
    """SHA-256 of the file, read in blocks; :class:`FileRejected` if any physical line exceeds ``limit`` bytes."""
    digest = hashlib.sha256()
    too_long: list[LineError] = []
    total = 0
    line_no, current = 1, 0  # the line being read and its length so far
    with Path(path).open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
            pieces = block.split(b"\n")
            for i, piece in enumerate(pieces):
                current += len(piece)
                if i < len(pieces) - 1:  # the line ends in this block
                    if current > limit:
                        total += 1
                        if len(too_long) < MAX_REPORTED_ERRORS:
                            too_long.append(LineError(line_no, f"line longer than {limit} bytes"))
                    line_no, current = line_no + 1, 0
    if current > limit:
        total += 1
        if len(too_long) < MAX_REPORTED_ERRORS:
            too_long.append(LineError(line_no, f"line longer than {limit} bytes"))
    if total:
        raise FileRejected(f"{total} line(s) longer than {limit} bytes; nothing was booked", too_long, total)
    return digest.hexdigest()


# --- checks against the books ------------------------------------------------------------------


def _lock(session: Session, clearing_ids: list[int]) -> None:
    """Every balance row the file touches, in ascending id order (PostgreSQL)."""
    if not is_postgres(session):
        return
    session.execute(text(
        "SELECT count(*) FROM (SELECT id FROM ledger_accounts WHERE id IN ("
        f"  SELECT arrears_account_id FROM {STAGE} WHERE arrears_account_id IS NOT NULL"
        f"  UNION SELECT prepaid_account_id FROM {STAGE} WHERE prepaid_account_id IS NOT NULL)"
        "  OR id IN :clearing ORDER BY id FOR NO KEY UPDATE) locked"
    ).bindparams(bindparam("clearing", expanding=True)), {"clearing": clearing_ids or [-1]})


def _problems(session: Session, channel: str) -> tuple[list[LineError], int]:
    checks = [
        (f"SELECT s.line_no, s.external_ref, d.first_line FROM {STAGE} s JOIN "
         f"(SELECT external_ref, min(line_no) AS first_line FROM {STAGE} GROUP BY external_ref "
         " HAVING count(*) > 1) d ON d.external_ref = s.external_ref WHERE s.line_no > d.first_line",
         lambda r: f"external_ref {r[1]} appears again (first on line {r[2]})"),
        (f"SELECT line_no, external_ref, account_no FROM {STAGE} WHERE customer_id IS NULL",
         lambda r: f"unknown account {r[2]}"),
        (f"SELECT line_no, external_ref, currency, account_currency FROM {STAGE} "
         "WHERE customer_id IS NOT NULL AND currency <> account_currency",
         lambda r: f"currency {r[2]} differs from the account's {r[3]}"),
        (f"SELECT line_no, external_ref FROM {STAGE} WHERE existing_id IS NOT NULL AND NOT existing_same",
         lambda r: f"external_ref {r[1]} was already booked on {channel} with another amount or account "
                   "(or reversed); not booked"),
    ]
    errors: list[LineError] = []
    total = 0
    for sql, message in checks:
        rows = session.execute(text(f"{sql} ORDER BY 1 LIMIT {MAX_REPORTED_ERRORS}")).all()
        errors += [LineError(int(row[0]), message(row), row[1]) for row in rows]
        # one pass in the usual case; count them all only when the report is full
        total += len(rows) if len(rows) < MAX_REPORTED_ERRORS else \
            session.execute(text(f"SELECT count(*) FROM ({sql}) x")).scalar_one()
    errors.sort(key=lambda e: e.line)
    return errors[:MAX_REPORTED_ERRORS], total


def _mark_existing(session: Session, channel: str) -> None:
    same = "(p.amount = s.amount AND p.customer_id = s.customer_id AND p.currency = s.currency " \
           "AND p.status = 'booked')"
    session.execute(text(
        f"UPDATE {STAGE} AS s SET existing_id = p.id, existing_same = {same} "
        "FROM payments AS p WHERE p.channel = :channel AND p.external_ref = s.external_ref"), {"channel": channel})


# --- booking -----------------------------------------------------------------------------------


def _book(session: Session, channel: str, *, file_name: str, sha256: str, now: dt.datetime, actor: str,
          fast_path: bool, line_errors: tuple[list[LineError], int] = ([], 0)) -> ImportResult:
    chan = payment_channel(channel)
    if is_postgres(session):
        session.execute(text("SET LOCAL work_mem = '256MB'"))  # sorts of a million lines stay in memory
        session.execute(text(f"ANALYZE {STAGE}"))
    currencies = [c for (c,) in session.execute(text(f"SELECT DISTINCT currency FROM {STAGE}")).all()]
    clearing = ensure_accounts(session, [(chan.clearing_account, c) for c in currencies], now)
    _lock(session, list(clearing.values()))
    _mark_existing(session, chan.code)
    errors, total = _problems(session, chan.code)
    if total or line_errors[1]:
        merged = sorted(errors + line_errors[0], key=lambda e: e.line)[:MAX_REPORTED_ERRORS]
        total += line_errors[1]
        raise FileRejected(f"{total} bad line(s); nothing was booked", merged, total)
    lines = session.execute(text(f"SELECT count(*) FROM {STAGE}")).scalar_one()
    amounts = {c: int(a) for c, a in session.execute(text(
        f"SELECT currency, sum(amount) FROM {STAGE} WHERE existing_id IS NULL GROUP BY currency")).all()}
    booked = session.execute(text(f"SELECT count(*) FROM {STAGE} WHERE existing_id IS NULL")).scalar_one()
    record = PaymentImport(channel=chan.code, file_name=file_name[:255], file_sha256=sha256, lines=lines,
                           booked=booked, duplicates=lines - booked, amount=sum(amounts.values()),
                           imported_at=utc(now), actor=actor)
    session.add(record)
    session.flush()
    transaction_ids: list[int] = []
    if booked:
        _allocate(session)
        for currency in sorted(amounts):
            transaction_ids.append(_book_currency(session, chan.code, chan.clearing_account, currency,
                                                  clearing[(chan.clearing_account, currency)], record.id, now, actor))
        _apply_bills(session)
    audit.record(session, now=utc(now), actor=actor, action="payments.import", subject_type="payment_import",
                 subject_id=str(record.id), details={
                     "channel": chan.code, "file": file_name[:255], "sha256": sha256, "lines": lines,
                     "booked": booked, "duplicates": lines - booked, "amounts": amounts,
                     "transaction_ids": transaction_ids})
    return ImportResult(record.id, chan.code, file_name, sha256, lines, booked, lines - booked, amounts,
                        tuple(transaction_ids), fast_path)


def _allocate(session: Session) -> None:
    """Arrears first, oldest bill first, payments in the order the customer paid - as overlapping intervals.

    Payment i of a customer covers [P(i-1), P(i)) of the money that customer
    paid in this file; bill j covers [B(j-1), B(j)) of what the customer owes,
    oldest first. What a payment gives a bill is the overlap of the two.
    """
    create_alloc(session)
    low = "CASE WHEN p.p_end - p.amount > b.b_end - b.outstanding THEN p.p_end - p.amount " \
          "ELSE b.b_end - b.outstanding END"
    high = "CASE WHEN p.p_end < b.b_end THEN p.p_end ELSE b.b_end END"
    session.execute(text(
        "WITH b AS ("
        "  SELECT id AS bill_id, customer_id, outstanding, "
        "         sum(outstanding) OVER (PARTITION BY customer_id ORDER BY due_date, id "
        "                                ROWS UNBOUNDED PRECEDING) AS b_end "
        f"  FROM customer_bills WHERE outstanding > 0 "
        f"    AND customer_id IN (SELECT customer_id FROM {STAGE} WHERE existing_id IS NULL)), "
        "p AS ("
        "  SELECT line_no, customer_id, amount, "
        "         sum(amount) OVER (PARTITION BY customer_id ORDER BY paid_at, line_no "
        "                           ROWS UNBOUNDED PRECEDING) AS p_end "
        f"  FROM {STAGE} WHERE existing_id IS NULL "
        "    AND customer_id IN (SELECT customer_id FROM customer_bills WHERE outstanding > 0)) "
        f"INSERT INTO {ALLOC} (line_no, bill_id, amount) "
        f"SELECT p.line_no, b.bill_id, {high} - ({low}) FROM p JOIN b ON b.customer_id = p.customer_id "
        "  AND p.p_end - p.amount < b.b_end AND b.b_end - b.outstanding < p.p_end"))
    if is_postgres(session):
        session.execute(text(f"ANALYZE {ALLOC}"))
    session.execute(text(
        f"UPDATE {STAGE} AS s SET to_arrears = a.total FROM "
        f"(SELECT line_no, sum(amount) AS total FROM {ALLOC} GROUP BY line_no) AS a WHERE a.line_no = s.line_no"))


def _book_currency(session: Session, channel: str, clearing_code: str, currency: str, clearing_id: int,
                   import_id: int, now: dt.datetime, actor: str) -> int:
    transaction_id, created = journal.claim(
        session, kind="payment_import", source=f"import:{channel}", external_ref=f"{import_id}:{currency}",
        occurred_at=now, now=now, actor=actor, memo=f"payments import {import_id}")
    assert created
    params = {"t": transaction_id, "cur": currency, "cur_out": currency, "clearing": clearing_id,
              "channel": channel, "import_id": import_id}
    # the payments subledger first: balance_after reads the prepaid balances before they move
    session.execute(text(
        "INSERT INTO payments (channel, external_ref, customer_id, amount, currency, applied_to_arrears, "
        "  balance_after, paid_at, transaction_id, import_id, status) "
        "SELECT :channel, s.external_ref, s.customer_id, s.amount, s.currency, s.to_arrears, "
        "  CAST(-a.balance + sum(s.amount - s.to_arrears) OVER (PARTITION BY s.customer_id "
        "       ORDER BY s.paid_at, s.line_no ROWS UNBOUNDED PRECEDING) AS BIGINT), "
        "  s.paid_at, :t, :import_id, 'booked' "
        f"FROM {STAGE} s JOIN ledger_accounts a ON a.id = s.prepaid_account_id "
        "WHERE s.existing_id IS NULL AND s.currency = :cur"), params)
    # one journal transaction: Dr clearing (total), Cr arrears and prepaid per customer
    session.execute(text(
        "INSERT INTO ledger_postings (transaction_id, line, account_id, currency, amount) "
        "SELECT :t, 1 + row_number() OVER (ORDER BY account_id), account_id, :cur_out, -total FROM ("
        f"  SELECT arrears_account_id AS account_id, sum(to_arrears) AS total FROM {STAGE} "
        "   WHERE existing_id IS NULL AND currency = :cur GROUP BY arrears_account_id HAVING sum(to_arrears) > 0 "
        "  UNION ALL "
        f"  SELECT prepaid_account_id, sum(amount - to_arrears) FROM {STAGE} "
        "   WHERE existing_id IS NULL AND currency = :cur GROUP BY prepaid_account_id "
        "   HAVING sum(amount - to_arrears) > 0) credits"), params)
    session.execute(text(
        "INSERT INTO ledger_postings (transaction_id, line, account_id, currency, amount) "
        f"SELECT :t, 1, :clearing, :cur_out, sum(amount) FROM {STAGE} WHERE existing_id IS NULL AND currency = :cur"),
        params)
    # stored balances, from the postings just written (rows locked in id order beforehand)
    session.execute(text(
        "UPDATE ledger_accounts AS a SET balance = a.balance + d.delta FROM "
        "(SELECT account_id, sum(amount) AS delta FROM ledger_postings WHERE transaction_id = :t "
        " GROUP BY account_id) AS d WHERE a.id = d.account_id"), params)
    session.execute(text(
        "INSERT INTO bill_allocations (transaction_id, payment_id, bill_id, amount) "
        f"SELECT :t, p.id, x.bill_id, x.amount FROM {ALLOC} x JOIN {STAGE} s ON s.line_no = x.line_no "
        "JOIN payments p ON p.channel = :channel AND p.external_ref = s.external_ref "
        "WHERE s.currency = :cur"), params)
    return transaction_id


def _apply_bills(session: Session) -> None:
    session.execute(text(
        "UPDATE customer_bills AS b SET outstanding = b.outstanding - x.total FROM "
        f"(SELECT bill_id, sum(amount) AS total FROM {ALLOC} GROUP BY bill_id) AS x WHERE b.id = x.bill_id"))
