"""Import a channel's payments file: all or nothing, set-based, streamed.

1. Stage: on PostgreSQL the file is streamed into a temporary table by COPY,
   each block first matched by a strict byte pattern (:mod:`vouchers.books.fastcsv`),
   and typed in SQL (fast path, SHA-256 computed on the way); a file with any
   line the pattern or the typing refuses - and always on SQLite or for
   adapted formats - is read by the reference parser of
   :mod:`vouchers.books.csvformat`, which reports every bad line (after the cap on
   line length, :func:`check_line_lengths`).
2. Check against the books, set-based: duplicate references in the file,
   unknown accounts, currency differences, references already booked with
   another amount or account (conflicts). Any bad line rejects the whole file.
   Lines already booked identically are duplicates: skipped, so re-importing a
   file changes nothing. On PostgreSQL, when one pass over the stage finds
   nothing suspect and no line booked before, a reference twice in the file
   is left to the unique index of payments: booking runs in a savepoint, and
   a unique violation rolls it back and produces the same report.
3. Book: lock the balance rows in id order, allocate each payment (arrears
   oldest bill first, in the order the customer paid; the rest prepaid) with
   window functions, only for customers with an open bill, then write one
   journal transaction per file and currency (Dr clearing:<channel>; Cr each
   customer's arrears and prepaid), one payments row per line (the
   subledger, inserted in file order), the bill allocations and the bills.
   The totals, the locks and (when every line is new) the journal legs read
   one summary of the stage per customer instead of the stage itself.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import bindparam, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vouchers.books import journal
from vouchers.books.accounts import ensure_accounts
from vouchers.books.channels import payment_channel
from vouchers.books.csvformat import MAX_REPORTED_ERRORS, PaymentLine
from vouchers.books.errors import FileRejected, LineError
from vouchers.books.sql import is_postgres
from vouchers.books.staging import (
    ALLOC,
    CUSTOMERS,
    STAGE,
    OnRead,
    create_alloc,
    create_customers,
    create_stage,
    stage_generic,
    stage_items,
)
from vouchers.books.timeutil import DEFAULT_TZ, utc
from vouchers.storage import audit
from vouchers.storage.ledger_models import PaymentImport

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
                tz: str = DEFAULT_TZ, on_read: OnRead | None = None) -> ImportResult:
    """Import a generic-format file (docs/contract.md §6.3) for ``channel``; ``on_read``: how far staging has read it."""
    payment_channel(channel)
    _tune(session)
    path = Path(path)
    checked: list[str] = []  # the reference parser reads only files whose lines all fit the cap (and hashes)
    staged = stage_generic(session, path, tz, before_slow_path=lambda: checked.append(check_line_lengths(path)),
                           on_read=on_read)
    sha = staged.sha256 or checked[0]
    return _book(session, channel, file_name=path.name, sha256=sha, now=now, actor=actor, fast_path=staged.fast_path,
                 line_errors=(staged.errors, staged.bad_lines))


def import_lines(session: Session, channel: str, items: Iterable[PaymentLine | LineError], *, file_name: str,
                 sha256: str, now: dt.datetime, actor: str) -> ImportResult:
    """Import lines produced by an adapter (e.g. :mod:`vouchers.books.adapters.alipay`)."""
    payment_channel(channel)
    _tune(session)
    create_stage(session)
    found = stage_items(session, items)
    return _book(session, channel, file_name=file_name, sha256=sha256, now=now, actor=actor, fast_path=False,
                 line_errors=found)


def _tune(session: Session) -> None:
    """PostgreSQL: sorts and hashes of a million lines in memory, from the first join (staging) on."""
    if is_postgres(session):
        session.execute(text("SET LOCAL work_mem = '256MB'"))


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
        f"  SELECT unnest(ARRAY[arrears_account_id, prepaid_account_id]) FROM {CUSTOMERS} "
        "  WHERE customer_id IS NOT NULL)"
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


@dataclass
class _Counts:
    """Per currency: lines, their amount, and of them already booked (identically or not)."""

    lines: int = 0
    amount: int = 0
    existing: int = 0
    existing_amount: int = 0
    conflicts: int = 0

    @property
    def new(self) -> int:
        return self.lines - self.existing

    @property
    def new_amount(self) -> int:
        return self.amount - self.existing_amount


def _totals(session: Session) -> tuple[dict[str, _Counts], int]:
    """One pass over the stage (into :data:`~vouchers.books.staging.CUSTOMERS`, which the locks and the postings read
    too): lines and amount per currency; lines with an unknown account or currency."""
    create_customers(session)
    counts: dict[str, _Counts] = {}
    suspect = 0
    for currency, lines, amount, unknown in session.execute(text(
            "SELECT currency, sum(lines), sum(amount), "
            "  sum(CASE WHEN customer_id IS NULL OR currency <> account_currency THEN lines ELSE 0 END) "
            f"FROM {CUSTOMERS} GROUP BY currency")).all():
        counts[currency] = _Counts(int(lines), int(amount))
        suspect += int(unknown)
    return counts, suspect


def _mark_existing(session: Session, channel: str, counts: dict[str, _Counts]) -> None:
    """Lines whose reference is booked already: the payment, and whether it is the same; counted per currency."""
    same = "(p.amount = s.amount AND p.customer_id = s.customer_id AND p.currency = s.currency " \
           "AND p.status = 'booked')"
    update = (f"UPDATE {STAGE} AS s SET existing_id = p.id, existing_same = {same} "
              "FROM payments AS p WHERE p.channel = :channel AND p.external_ref = s.external_ref")
    summary = "SELECT currency, count(*), sum(amount), sum(CASE WHEN existing_same THEN 0 ELSE 1 END) FROM {} " \
              "GROUP BY currency"
    if is_postgres(session):  # the same pass
        rows = session.execute(text(f"WITH u AS ({update} RETURNING s.currency, s.amount, s.existing_same) "
                                    + summary.format("u")), {"channel": channel}).all()
    else:
        session.execute(text(update), {"channel": channel})
        rows = session.execute(text(summary.format(f"{STAGE} WHERE existing_id IS NOT NULL"))).all()
    for currency, lines, amount, conflicts in rows:
        c = counts[currency]
        c.existing, c.existing_amount, c.conflicts = int(lines), int(amount), int(conflicts)


# --- booking -----------------------------------------------------------------------------------


def _book(session: Session, channel: str, *, file_name: str, sha256: str, now: dt.datetime, actor: str,
          fast_path: bool, line_errors: tuple[list[LineError], int] = ([], 0)) -> ImportResult:
    chan = payment_channel(channel)
    postgres = is_postgres(session)
    if postgres:
        # without statistics the planner takes the stage for a few rows: nested loops over a million lines
        session.execute(text(f"ANALYZE {STAGE}"))
    counts, suspect = _totals(session)
    clearing = ensure_accounts(session, [(chan.clearing_account, c) for c in counts], now)
    _lock(session, list(clearing.values()))
    _mark_existing(session, chan.code, counts)
    existing = sum(c.existing for c in counts.values())
    conflicts = sum(c.conflicts for c in counts.values())
    # PostgreSQL, in the usual case (no line booked before, nothing suspect): a reference twice in the file is
    # caught by the unique index of payments while booking (then the report below is made and nothing booked);
    # otherwise every check runs first.
    optimistic = postgres and not (suspect or existing or conflicts or line_errors[1])
    if not optimistic:
        _reject_if_bad(session, chan.code, line_errors)
    lines = sum(c.lines for c in counts.values())
    amounts = {cur: c.new_amount for cur, c in counts.items() if c.new}
    booked = sum(c.new for c in counts.values())
    record = PaymentImport(channel=chan.code, file_name=file_name[:255], file_sha256=sha256, lines=lines,
                           booked=booked, duplicates=lines - booked, amount=sum(amounts.values()),
                           imported_at=utc(now), actor=actor)
    session.add(record)
    session.flush()
    transaction_ids: list[int] = []
    if booked:
        savepoint = session.begin_nested() if optimistic else None
        try:
            _allocate(session)
            for currency in sorted(amounts):
                transaction_ids.append(_book_currency(session, chan.code, chan.clearing_account, currency,
                                                      clearing[(chan.clearing_account, currency)], record.id, now,
                                                      actor, every_line_new=not counts[currency].existing))
            _apply_bills(session)
        except IntegrityError as e:
            if savepoint is None:
                raise
            savepoint.rollback()
            _reject_if_bad(session, chan.code, line_errors, cause=e)
            raise
        if savepoint is not None:
            savepoint.commit()
    audit.record(session, now=utc(now), actor=actor, action="payments.import", subject_type="payment_import",
                 subject_id=str(record.id), details={
                     "channel": chan.code, "file": file_name[:255], "sha256": sha256, "lines": lines,
                     "booked": booked, "duplicates": lines - booked, "amounts": amounts,
                     "transaction_ids": transaction_ids})
    return ImportResult(record.id, chan.code, file_name, sha256, lines, booked, lines - booked, amounts,
                        tuple(transaction_ids), fast_path)


def _reject_if_bad(session: Session, channel: str, line_errors: tuple[list[LineError], int],
                   cause: BaseException | None = None) -> None:
    """:class:`FileRejected` with the first bad lines, if there is any."""
    errors, total = _problems(session, channel)
    if total or line_errors[1]:
        merged = sorted(errors + line_errors[0], key=lambda e: e.line)[:MAX_REPORTED_ERRORS]
        total += line_errors[1]
        raise FileRejected(f"{total} bad line(s); nothing was booked", merged, total) from cause


def _allocate(session: Session) -> None:
    """Arrears first, oldest bill first, payments in the order the customer paid - as overlapping intervals.

    Payment i of a customer covers [P(i-1), P(i)) of the money that customer
    paid in this file; bill j covers [B(j-1), B(j)) of what the customer owes,
    oldest first. What a payment gives a bill is the overlap of the two. Only
    customers with an open bill take part (most have none).
    """
    create_alloc(session)
    low = "CASE WHEN p.p_end - p.amount > b.b_end - b.outstanding THEN p.p_end - p.amount " \
          "ELSE b.b_end - b.outstanding END"
    high = "CASE WHEN p.p_end < b.b_end THEN p.p_end ELSE b.b_end END"
    session.execute(text(
        "WITH p AS MATERIALIZED ("
        "  SELECT line_no, external_ref, currency, customer_id, amount, "
        "         sum(amount) OVER (PARTITION BY customer_id ORDER BY paid_at, line_no "
        "                           ROWS UNBOUNDED PRECEDING) AS p_end "
        f"  FROM {STAGE} WHERE existing_id IS NULL "
        "    AND customer_id IN (SELECT customer_id FROM customer_bills WHERE outstanding > 0)), "
        "b AS ("
        "  SELECT id AS bill_id, customer_id, outstanding, "
        "         sum(outstanding) OVER (PARTITION BY customer_id ORDER BY due_date, id "
        "                                ROWS UNBOUNDED PRECEDING) AS b_end "
        "  FROM customer_bills WHERE outstanding > 0 AND customer_id IN (SELECT customer_id FROM p)) "
        f"INSERT INTO {ALLOC} (line_no, external_ref, currency, bill_id, amount) "
        f"SELECT p.line_no, p.external_ref, p.currency, b.bill_id, {high} - ({low}) "
        "FROM p JOIN b ON b.customer_id = p.customer_id "
        "  AND p.p_end - p.amount < b.b_end AND b.b_end - b.outstanding < p.p_end"))
    if is_postgres(session):
        session.execute(text(f"ANALYZE {ALLOC}"))


# what each line of the stage paid towards arrears: joined where needed (an UPDATE of the stage would scan and
# rewrite it for the few lines of customers with an open bill)
_TO_ARREARS = (f"LEFT JOIN (SELECT line_no, sum(amount) AS to_arrears FROM {ALLOC} GROUP BY line_no) ar "
               "ON ar.line_no = s.line_no")


def _book_currency(session: Session, channel: str, clearing_code: str, currency: str, clearing_id: int,
                   import_id: int, now: dt.datetime, actor: str, *, every_line_new: bool) -> int:
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
        "SELECT :channel, external_ref, customer_id, amount, currency, to_arrears, balance_after, paid_at, :t, "
        "  :import_id, 'booked' FROM ("
        "  SELECT s.line_no, s.external_ref, s.customer_id, s.amount, s.currency, "
        "    coalesce(ar.to_arrears, 0) AS to_arrears, s.paid_at, "
        "    CAST(-a.balance + sum(s.amount - coalesce(ar.to_arrears, 0)) OVER (PARTITION BY s.customer_id "
        "         ORDER BY s.paid_at, s.line_no ROWS UNBOUNDED PRECEDING) AS BIGINT) AS balance_after "
        f"  FROM {STAGE} s JOIN ledger_accounts a ON a.id = s.prepaid_account_id {_TO_ARREARS} "
        "  WHERE s.existing_id IS NULL AND s.currency = :cur) x "
        # in file order (usually time and reference order): the BRIN and unique indexes grow at their ends
        "ORDER BY line_no"), params)
    # one journal transaction: Dr clearing (line 1, the total), Cr arrears and prepaid per customer
    session.execute(text(
        f"WITH c AS MATERIALIZED ({_PER_CUSTOMER if every_line_new else _PER_CUSTOMER_FROM_LINES}), "
        "legs AS MATERIALIZED ("
        "  SELECT arrears_account_id AS account_id, arrears AS total FROM c WHERE arrears > 0 "
        "  UNION ALL SELECT prepaid_account_id, prepaid FROM c WHERE prepaid > 0) "
        "INSERT INTO ledger_postings (transaction_id, line, account_id, currency, amount) "
        "SELECT :t, 1 + row_number() OVER (ORDER BY account_id), account_id, :cur_out, -total FROM legs "
        "UNION ALL SELECT :t, 1, :clearing, :cur_out, sum(total) FROM legs"), params)
    # stored balances, from the postings just written (rows locked in id order beforehand)
    session.execute(text(
        "UPDATE ledger_accounts AS a SET balance = a.balance + d.delta FROM "
        "(SELECT account_id, sum(amount) AS delta FROM ledger_postings WHERE transaction_id = :t "
        " GROUP BY account_id) AS d WHERE a.id = d.account_id"), params)
    # the few lines that paid bills: their payment by the unique (channel, external_ref) index
    session.execute(text(
        "INSERT INTO bill_allocations (transaction_id, payment_id, bill_id, amount) "
        "SELECT :t, (SELECT p.id FROM payments p WHERE p.channel = :channel AND p.external_ref = x.external_ref), "
        f"  x.bill_id, x.amount FROM {ALLOC} x WHERE x.currency = :cur"), params)
    return transaction_id


# what each customer paid in this file and currency, split into arrears and prepaid: when every line is new,
# from the per-customer summary and the (few) bill allocations; otherwise from the new lines of the stage
_PER_CUSTOMER = (
    "SELECT u.arrears_account_id, u.prepaid_account_id, coalesce(a.arrears, 0) AS arrears, "
    "  u.amount - coalesce(a.arrears, 0) AS prepaid "
    f"FROM {CUSTOMERS} u LEFT JOIN (SELECT b.customer_id, sum(x.amount) AS arrears FROM {ALLOC} x "
    "  JOIN customer_bills b ON b.id = x.bill_id WHERE x.currency = :cur GROUP BY b.customer_id) a "
    "  ON a.customer_id = u.customer_id WHERE u.currency = :cur")
_PER_CUSTOMER_FROM_LINES = (
    "SELECT s.arrears_account_id, s.prepaid_account_id, sum(coalesce(ar.to_arrears, 0)) AS arrears, "
    f"  sum(s.amount) - sum(coalesce(ar.to_arrears, 0)) AS prepaid FROM {STAGE} s {_TO_ARREARS} "
    "WHERE s.existing_id IS NULL AND s.currency = :cur GROUP BY s.arrears_account_id, s.prepaid_account_id")


def _apply_bills(session: Session) -> None:
    session.execute(text(
        "UPDATE customer_bills AS b SET outstanding = b.outstanding - x.total FROM "
        f"(SELECT bill_id, sum(amount) AS total FROM {ALLOC} GROUP BY bill_id) AS x WHERE b.id = x.bill_id"))
