"""Monthly billing: one bill per account per period, posted to the books.

A run bills, for period ``YYYY-MM``, every assigned account that has no bill
for that period yet and has unbilled readings dated up to the cut-off (the
period's last day, or ``as_of`` if earlier). It works in batches of accounts
(``MeteringConfig.batch_size``), one database transaction per batch, so a
run can be interrupted and run again: accounts already billed are skipped
(the unique (account, period) key guarantees one bill per period).

Per batch, set-based: select the accounts, lock their balance rows in id
order (the books' lock order), read balances, unbilled readings and each
account's position in its tariff period with a few queries, price every
account (:func:`vouchers.metering.pricing.compute_bill`), then post **one** journal
transaction for the batch (as the books do for an imported payments file):

* the part of each bill the prepaid balance covers: Dr ``customer_prepaid:<acct>``;
* the rest: Dr ``customer_arrears:<acct>`` and a ledger bill (``customer_bills``)
  with a due date — ``as_of`` for prepaid accounts (owed at once; cost
  control acts on it), ``as_of + due_days`` for postpaid accounts (the
  arrears-first rule of the books pays it; late fees run after it);
* Cr ``revenue:electricity`` with the batch's total;
* a Fujian-style low-income refund (先征后返): Dr ``expense:low_income_allowance``,
  Cr ``customer_prepaid:<acct>``, credited before the bill is charged.

An account that cannot be billed (unknown tariff, no version in force, a
missing time-of-use split...) is recorded in ``billing_exceptions`` with the
reason and nothing is posted for it; the run goes on with the others.
"""
from __future__ import annotations

import datetime as dt
import itertools
import logging
import multiprocessing
import multiprocessing.util
import re
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from vouchers.books import chart, journal
from vouchers.books.accounts import ensure_accounts
from vouchers.books.customers import apply_prepaid
from vouchers.books.retry import run_in_transaction
from vouchers.metering import bulk
from vouchers.metering import positions as pos
from vouchers.metering.config import MeteringConfig
from vouchers.metering.errors import BillingError, BillNotFound, InvalidPeriod, MeteringError
from vouchers.metering.pricing import BillLine, QuickBill, lines_from_json, quick_bill
from vouchers.storage.ledger_models import CustomerAccount, CustomerBill
from vouchers.storage.metering_models import PAYMENT_MODES, BillingException, BillingRun, MeteringAccount, MeteringBill
from vouchers.storage.sts_models import StsMeter
from vouchers.tariffs import Catalog, Tariff
from vouchers.tariffs.errors import TariffError

log = logging.getLogger(__name__)

PERIOD = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])$")
SOURCE = "metering_billing"
ALLOWANCE_EXPENSE = "expense:low_income_allowance"
MAX_EXCEPTIONS_LISTED = 100


def bill_ref(period: str) -> str:
    """The reference of an electricity bill in the books (unique per account)."""
    return f"elec-{period}"


def parse_period(text: str) -> tuple[dt.date, dt.date]:
    """``"2026-11"`` -> (first day, last day)."""
    match = PERIOD.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise InvalidPeriod(f"period must look like 2026-11, got {text!r}")
    year, month = int(match[1]), int(match[2])
    first = dt.date(year, month, 1)
    following = dt.date(year + month // 12, month % 12 + 1, 1)
    return first, following - dt.timedelta(days=1)


def cutoff_for(period: str, as_of: dt.date) -> dt.date:
    first, last = parse_period(period)
    if as_of < first:
        raise InvalidPeriod(f"as-of date {as_of} is before period {period} begins")
    return min(last, as_of)


@dataclass(frozen=True)
class BatchResult:
    done: bool
    last_account_no: str | None = None
    billed: int = 0
    zero_bills: int = 0
    no_reading: int = 0
    skipped: int = 0
    total_fen: int = 0
    exceptions: tuple[tuple[str, str, str], ...] = ()
    keypad_meter: int = 0  # accounts left to their STS keypad meter (credited by tokens, never billed)
    accounts: int = 0  # accounts the batch went through, whatever became of them (progress of a run)


@dataclass
class RunResult:
    run_id: int
    period: str
    as_of: dt.date
    cutoff: dt.date
    billed: int = 0
    zero_bills: int = 0
    no_reading: int = 0
    skipped: int = 0
    total_fen: int = 0
    batches: int = 0
    exceptions: list[tuple[str, str, str]] = field(default_factory=list)
    keypad_meter: int = 0

    def as_dict(self) -> dict[str, object]:
        from vouchers.money import format_amount

        return {"run_id": self.run_id, "period": self.period, "as_of": self.as_of.isoformat(),
                "cutoff": self.cutoff.isoformat(), "billed": self.billed, "zero_bills": self.zero_bills,
                "no_reading": self.no_reading, "keypad_meter": self.keypad_meter, "skipped": self.skipped,
                "total": format_amount(self.total_fen),
                "batches": self.batches,
                "exceptions": [{"account_no": a, "code": c, "message": m} for a, c, m in self.exceptions]}


class _Claimer:
    """Hands out the next batch of unbilled accounts to the workers, in account order."""

    def __init__(self, factory: sessionmaker[Session], period: str, limit: int,
                 account_nos: Sequence[str] | None) -> None:
        self.factory = factory
        self.period = period
        self.limit = limit
        self.account_nos = account_nos
        self.after: str | None = None
        self.batch_no = 0
        self.done = False
        self.lock = threading.Lock()

    def next(self) -> tuple[int, list[pos.Position]] | None:
        with self.lock:
            if self.done:
                return None
            # A plain keyset walk over the accounts: accounts already billed for the period are
            # skipped by the batch itself, through the (account, period) key. (An anti-join here
            # would be planned from statistics that the run's own inserts make stale.)
            with self.factory() as session, session.begin():
                candidates = pos.select_accounts(session, after=self.after, limit=self.limit,
                                                 account_nos=self.account_nos)
            if not candidates:
                self.done = True
                return None
            self.after = candidates[-1].account_no
            self.batch_no += 1
            return self.batch_no, candidates


def run_billing(factory: sessionmaker[Session], period: str, *, as_of: dt.date, now: dt.datetime, catalog: Catalog,
                config: MeteringConfig | None = None, actor: str = "billing",
                account_nos: Sequence[str] | None = None,
                on_batch: Callable[[BatchResult], None] | None = None) -> RunResult:
    """Bill ``period`` for every assigned account (or only ``account_nos``), batch by batch.

    On PostgreSQL a run of more than one batch is billed by
    ``config.billing_workers`` worker processes side by side, each with its
    own connection (an explicit ``account_nos`` list: as many threads);
    SQLite, with its single writer, bills in this process, one batch after
    the other.
    """
    config = config or MeteringConfig()
    cutoff = cutoff_for(period, as_of)
    if as_of > config.local_date(now):
        raise InvalidPeriod(f"as-of date {as_of} is in the future")

    def start(session: Session) -> tuple[int, dict[tuple[str, str], int]]:
        run = BillingRun(period=period, as_of=as_of, status="running", started_at=now, actor=actor,
                         accounts_billed=0, zero_bills=0, skipped=0, total_fen=0, batches=0)
        session.add(run)
        session.flush()
        currencies = session.execute(select(CustomerAccount.currency).distinct()).scalars().all()
        return run.id, ensure_accounts(session, _book_keys(currencies), now)

    run_id, book_ids = run_in_transaction(factory, start)
    result = RunResult(run_id, period, as_of, cutoff)
    job = _Job(run_id, period, as_of, now, actor, tuple(book_ids.items()))

    def merge(batch: BatchResult) -> None:
        result.batches += 1
        result.billed += batch.billed
        result.zero_bills += batch.zero_bills
        result.no_reading += batch.no_reading
        result.keypad_meter += batch.keypad_meter
        result.skipped += batch.skipped
        result.total_fen += batch.total_fen
        room = MAX_EXCEPTIONS_LISTED - len(result.exceptions)
        result.exceptions.extend(batch.exceptions[:max(room, 0)])
        if on_batch is not None:
            on_batch(batch)

    bind = factory.kw.get("bind")
    postgres = bind is not None and bind.dialect.name == "postgresql"
    workers = config.billing_workers if postgres else 1
    try:
        ranges = _ranges(factory, config.batch_size)
        parallel = (workers > 1 and account_nos is None and isinstance(bind, Engine)
                    and not multiprocessing.current_process().daemon)  # a daemon process may not start any
        first = next(ranges) if parallel else None
        if first is not None and first[2] is not None:  # more than one batch: worker processes
            _run_in_processes(bind, itertools.chain([first], ranges), workers=workers, job=job, catalog=catalog,
                              config=config, merge=merge)
        else:
            _run_in_threads(factory, workers=workers, job=job, catalog=catalog, config=config,
                            account_nos=account_nos, merge=merge)
    except BaseException:
        def fail(session: Session) -> None:
            session.execute(update(BillingRun).where(BillingRun.id == run_id)
                            .values(status="failed", finished_at=now))
        run_in_transaction(factory, fail)
        raise

    def finish(session: Session) -> None:
        session.execute(update(BillingRun).where(BillingRun.id == run_id)
                        .values(status="finished", finished_at=now))
    run_in_transaction(factory, finish)
    result.exceptions.sort()
    return result


def accounts_to_bill(session: Session, account_nos: Sequence[str] | None = None) -> int:
    """How many accounts a run goes through (the assigned ones, of ``account_nos`` if given): a progress
    total for :attr:`BatchResult.accounts`."""
    stmt = select(func.count()).select_from(MeteringAccount)
    if account_nos is not None:
        stmt = stmt.where(MeteringAccount.account_no.in_(sorted(set(account_nos))))
    return int(session.execute(stmt).scalar_one())


@dataclass(frozen=True)
class _Job:
    """What every batch of one run shares (sent to worker processes)."""

    run_id: int
    period: str
    as_of: dt.date
    now: dt.datetime
    actor: str
    book_ids: tuple[tuple[tuple[str, str], int], ...] = ()  # the run's revenue and expense rows, found at its start


def _book_keys(currencies: Iterable[str]) -> list[tuple[str, str]]:
    """The shared ledger rows a bill posts to besides the customer's own: revenue and the allowance expense."""
    return [(code, c) for c in currencies for code in (chart.REVENUE, ALLOWANCE_EXPENSE)]


def _bill_candidates(factory: sessionmaker[Session], job: _Job, batch_no: int, candidates: list[pos.Position],
                     *, catalog: Catalog, config: MeteringConfig, contiguous: bool) -> BatchResult:
    def work(session: Session) -> BatchResult:
        return bill_batch(session, run_id=job.run_id, batch_no=batch_no, period=job.period, as_of=job.as_of,
                          now=job.now, catalog=catalog, config=config, candidates=candidates,
                          contiguous=contiguous, actor=job.actor, book_ids=dict(job.book_ids))
    return run_in_transaction(factory, work)


def _run_in_threads(factory: sessionmaker[Session], *, workers: int, job: _Job, catalog: Catalog,
                    config: MeteringConfig, account_nos: Sequence[str] | None,
                    merge: Callable[[BatchResult], None]) -> None:
    """Bill in this process: one thread, or ``workers`` threads that claim batches in turn
    (used for SQLite, for an explicit list of accounts and for runs of a single batch)."""
    claimer = _Claimer(factory, job.period, config.batch_size, account_nos)
    stop = threading.Event()
    lock = threading.Lock()

    def worker() -> None:
        try:
            while not stop.is_set():
                claim = claimer.next()
                if claim is None:
                    return
                batch = _bill_candidates(factory, job, *claim, catalog=catalog, config=config,
                                         contiguous=account_nos is None)
                with lock:
                    merge(batch)
        except BaseException:
            stop.set()  # the other workers stop after their current batch
            raise

    if workers == 1:
        worker()
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="billing") as pool:
        futures = [pool.submit(worker) for _ in range(workers)]
        try:
            for future in futures:
                future.result()
        finally:
            stop.set()


# --- worker processes (PostgreSQL) -----------------------------------------------------
#
# Pricing and building the rows is Python work that holds the GIL: threads bill side by side only
# while one of them waits for the database. A run of more than one batch on PostgreSQL therefore
# bills in ``billing_workers`` processes, each with its own connection. This process walks the
# account numbers and hands out contiguous ranges of ``batch_size`` accounts, (after, upto]; a worker
# reads its range's accounts itself. The ranges are the batches the threads would have claimed.

_Range = tuple[int, "str | None", "str | None"]  # (batch number, after, upto): accounts in (after, upto]


def _ranges(factory: sessionmaker[Session], size: int) -> Iterator[_Range]:
    """The batches of a run as account-number ranges, each ``size`` accounts at the time of the walk;
    the last range is open-ended, so accounts added behind the walk are billed too."""
    after: str | None = None
    batch_no = 0
    while True:
        stmt = select(MeteringAccount.account_no).order_by(MeteringAccount.account_no).offset(size - 1).limit(1)
        if after is not None:
            stmt = stmt.where(MeteringAccount.account_no > after)
        with factory() as session, session.begin():
            upto = session.execute(stmt).scalar_one_or_none()
        batch_no += 1
        yield batch_no, after, upto
        if upto is None:
            return
        after = upto


def _process_context() -> multiprocessing.context.BaseContext:
    """A fresh interpreter per worker, never a fork of this one: this process may run other threads
    and hold open database connections, which a forked child must not share."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["vouchers.metering.billing"])
        return context
    return multiprocessing.get_context("spawn")  # pragma: no cover - platforms without forkserver


def _run_in_processes(engine: Engine, ranges: Iterator[_Range], *, workers: int, job: _Job, catalog: Catalog,
                      config: MeteringConfig, merge: Callable[[BatchResult], None]) -> None:
    """Bill ``ranges`` in ``workers`` processes. A batch that fails (or a worker that dies: the pool
    is then broken) stops the run: batches not started yet are cancelled, running ones finish."""
    url = engine.url.render_as_string(hide_password=False)
    with ProcessPoolExecutor(max_workers=workers, mp_context=_process_context(), initializer=_init_worker,
                             initargs=(url, job, catalog, config)) as pool:
        futures = [pool.submit(_bill_range, task) for task in ranges]
        try:
            for future in as_completed(futures):
                batch = future.result()
                if batch is not None:
                    merge(batch)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


_WORKER: dict[str, object] = {}


def _init_worker(url: str, job: _Job, catalog: Catalog, config: MeteringConfig) -> None:
    from vouchers.storage.db import make_engine, session_factory
    from vouchers.storage.gc_tuning import tune_for_bulk_work

    engine = make_engine(url, pool_size=1)
    multiprocessing.util.Finalize(None, engine.dispose, exitpriority=10)  # close the connection at exit
    _WORKER.update(factory=session_factory(engine), job=job, catalog=catalog, config=config)
    tune_for_bulk_work()  # a process of our own: a third less CPU per batch (docs/benchmarks.md, "Billing")


def _bill_range(task: _Range) -> BatchResult | None:
    batch_no, after, upto = task
    factory: sessionmaker[Session] = _WORKER["factory"]  # type: ignore[assignment]
    with factory() as session, session.begin():
        candidates = pos.select_accounts(session, after=after, upto=upto)
    if not candidates:
        return None
    return _bill_candidates(factory, _WORKER["job"], batch_no, candidates,  # type: ignore[arg-type]
                            catalog=_WORKER["catalog"], config=_WORKER["config"],  # type: ignore[arg-type]
                            contiguous=True)


def bill_batch(session: Session, *, run_id: int, batch_no: int, period: str, as_of: dt.date, now: dt.datetime,
               catalog: Catalog, config: MeteringConfig, candidates: Sequence[pos.Position],
               contiguous: bool = False, actor: str = "billing",
               book_ids: Mapping[tuple[str, str], int] | None = None) -> BatchResult:
    """Bill ``candidates`` (accounts without a bill for ``period``) in the session's transaction.
    ``book_ids``: the ids of the revenue and expense rows, if known (they are found or created if not).

    Pricing needs no locks (readings of an account only ever arrive after its
    latest reading, so a concurrent import cannot change a bill); the
    balance rows are locked, in id order, only to split each bill between
    the prepaid balance and arrears and to post.
    """
    if not candidates:
        return BatchResult(done=True)
    cutoff = cutoff_for(period, as_of)
    last_account_no = candidates[-1].account_no
    covered = len(candidates)
    scope = pos.Scope(candidates, contiguous=contiguous)
    billed_before = _billed(session, period, scope)
    keypad = _keypad_accounts(session, scope)
    if billed_before or keypad:
        candidates = [p for p in candidates if p.account_no not in billed_before and p.account_no not in keypad]
    if not candidates:
        return BatchResult(False, last_account_no, keypad_meter=len(keypad), accounts=covered)
    pos.fill_usage(session, candidates, cutoff=cutoff, scope=scope, tz=config.tz)

    priced: list[tuple[pos.Position, QuickBill]] = []
    exceptions: list[tuple[str, str, str]] = []
    no_reading = 0
    tariffs: dict[str, Tariff | TariffError] = {}
    for p in candidates:
        unbilled = p.unbilled
        if not unbilled or (p.last_close is None and len(unbilled) == 1 and not unbilled[0].kwh_ckwh):
            no_reading += 1  # nothing read yet, or only the meter's opening reading (the baseline)
            continue
        tariff = tariffs.get(p.tariff_id)
        if tariff is None:
            try:
                tariff = catalog.get(p.tariff_id)
            except TariffError as e:
                tariff = e
            tariffs[p.tariff_id] = tariff
        try:
            if isinstance(tariff, TariffError):
                raise tariff
            calc = quick_bill(tariff, p, unbilled, p.used_in_periods(tariff),  # p: the account's BillTerms
                              opening_date=p.last_close or unbilled[0].reading_date)
        except (BillingError, TariffError) as e:
            exceptions.append((p.account_no, getattr(e, "code", "billing_error"), str(e)))
            continue
        priced.append((p, calc))

    keys = _book_keys({p.currency for p, _ in priced})
    if book_ids is None or any(key not in book_ids for key in keys):
        book_ids = ensure_accounts(session, keys, now)
    # per-party rows now; the shared revenue/expense rows move at commit (bulk.post_entries)
    balances = pos.lock(session, [p for p, _ in priced])
    # A concurrent run may have billed some of them while we waited for the locks.
    billed_meanwhile = _billed(session, period, scope)
    if billed_meanwhile:
        priced = [(p, calc) for p, calc in priced if p.account_no not in billed_meanwhile]
        exceptions = [e for e in exceptions if e[0] not in billed_meanwhile]
    pos.apply_balances([p for p, _ in priced], balances)
    _settle_old_bills_first(session, [p for p, _ in priced], run_id=run_id, now=now)

    entries: list[bulk.Entry] = []
    revenue: dict[str, int] = defaultdict(int)
    allowance: dict[str, int] = defaultdict(int)
    bills: list[tuple[pos.Position, QuickBill, int, int]] = []  # (position, calc, from prepaid, rest)
    zero = 0
    total_fen = 0
    entry = bulk.Entry
    for p, calc in priced:
        total, refund = calc.total_fen, calc.allowance_refund_fen
        from_prepaid = min(max(p.prepaid_fen, 0) + refund, total)
        rest = total - from_prepaid
        if from_prepaid - refund:
            entries.append(entry(f"customer_prepaid:{p.account_no}", p.prepaid_account_id, p.currency,
                                 from_prepaid - refund))
        if rest:
            entries.append(entry(f"customer_arrears:{p.account_no}", p.arrears_account_id, p.currency, rest))
        revenue[p.currency] += total
        if refund:
            allowance[p.currency] += refund
        if total == 0:
            zero += 1
        total_fen += total
        bills.append((p, calc, from_prepaid, rest))
    for currency, amount in revenue.items():
        if amount:
            entries.append(entry(chart.REVENUE, book_ids[(chart.REVENUE, currency)], currency, -amount, True))
    for currency, amount in allowance.items():
        if amount:
            entries.append(entry(ALLOWANCE_EXPENSE, book_ids[(ALLOWANCE_EXPENSE, currency)], currency, amount, True))

    transaction_id = None
    if entries:
        transaction_id, created = journal.claim(
            session, kind="billing", source=SOURCE, external_ref=f"run:{run_id}:batch:{batch_no}", occurred_at=now,
            now=now, actor=actor, memo=f"electricity bills {period}, run {run_id}, batch {batch_no}")
        if not created:  # pragma: no cover - a batch number is used once per run
            raise MeteringError(f"billing run {run_id} batch {batch_no} was already posted")
        bulk.post_entries(session, transaction_id, entries)

    ref = bill_ref(period)
    due = {mode: _due_date(mode, as_of, config) for mode in PAYMENT_MODES}
    owed = [(p, rest) for p, _, _, rest in bills if rest]
    bill_ids: dict[str, int] = {}
    if owed:
        ids = bulk.insert_returning_ids(
            session, CustomerBill.__table__,
            ("customer_id", "bill_ref", "amount", "outstanding", "due_date", "issued_at", "transaction_id"),
            [(p.customer_id, ref, rest, rest, due[p.payment_mode], now, transaction_id) for p, rest in owed])
        bill_ids = {p.account_no: i for (p, _), i in zip(owed, ids, strict=True)}
    if bills:
        # the bill's figures as priced (QuickBill's fields, in its order), then the batch's own
        bulk.insert_rows(session, MeteringBill.__table__, _BILL_COLUMNS, [
            calc + (p.account_no, period, run_id, p.payment_mode, p.customer_class, from_prepaid,
                    bill_ids.get(p.account_no) if rest else None,
                    transaction_id if calc.total_fen or calc.allowance_refund_fen else None,
                    due[p.payment_mode], as_of, now)
            for p, calc, from_prepaid, rest in bills])
    if exceptions:
        session.execute(insert(BillingException.__table__), [
            {"run_id": run_id, "account_no": a, "code": c, "message": m[:2000]} for a, c, m in exceptions])
    session.execute(update(BillingRun).where(BillingRun.id == run_id).values(
        accounts_billed=BillingRun.accounts_billed + len(bills), zero_bills=BillingRun.zero_bills + zero,
        skipped=BillingRun.skipped + len(exceptions), total_fen=BillingRun.total_fen + total_fen,
        batches=BillingRun.batches + 1))
    return BatchResult(False, last_account_no, len(bills), zero, no_reading, len(exceptions), total_fen,
                       tuple(exceptions), len(keypad), covered)


def _keypad_accounts(session: Session, scope: pos.Scope) -> set[str]:
    """Accounts of the batch read by an active STS keypad meter (:mod:`vouchers.vending.meters`).

    Vended tokens credit such a meter: the customer pays before using, so
    the meter's readings must not be charged again by a bill."""
    return {no for no, in scope.fetch(session, "keypad_active", lambda scope: select(StsMeter.account_no).where(
        scope.where(StsMeter.account_no), StsMeter.active.is_(True)))}


def _billed(session: Session, period: str, scope: pos.Scope) -> set[str]:
    """Accounts of the batch that already have a bill for ``period`` (via the (account, period) key)."""
    return {no for no, in scope.fetch(session, "billed", lambda scope: select(MeteringBill.account_no).where(
        scope.where(MeteringBill.account_no), MeteringBill.period == scope.param("period")), period=period)}


# A bill row: QuickBill's fields as priced (in its order, under their column names), then the batch's own.
_BILL_COLUMNS = (*({"lines_json": "lines", "subtotal_text": "subtotal"}.get(f, f) for f in QuickBill._fields),
                 "account_no", "period", "run_id", "payment_mode", "customer_class", "from_prepaid_fen",
                 "customer_bill_id", "transaction_id", "due_date", "issued_on", "issued_at")


def _due_date(payment_mode: str, as_of: dt.date, config: MeteringConfig) -> dt.date:
    return as_of if payment_mode == "prepaid" else as_of + dt.timedelta(days=config.due_days)


def _settle_old_bills_first(session: Session, positions: Sequence[pos.Position], *, run_id: int,
                            now: dt.datetime) -> None:
    """Arrears first: a prepaid balance beside open bills pays those bills before the new one.

    Rare (money arriving is applied to arrears at once), so this uses the
    books' own :func:`vouchers.books.customers.apply_prepaid` one account at a time.
    """
    mixed = [p for p in positions if p.prepaid_fen > 0 and p.arrears_fen > 0]
    for p in mixed:
        customer = session.get(CustomerAccount, p.customer_id)
        assert customer is not None
        applied = apply_prepaid(session, customer, now=now, trigger=f"billing:{run_id}:{p.account_no}")
        p.prepaid_fen -= applied
        p.arrears_fen -= applied


# --- reading bills back ---------------------------------------------------------------


@dataclass(frozen=True)
class BillView:
    bill_id: int
    account_no: str
    period: str
    tariff_id: str
    version_from: dt.date
    tariff_period_start: dt.date
    months_of_supply: int
    payment_mode: str
    customer_class: str
    opening_date: dt.date | None
    closing_date: dt.date
    kwh_ckwh: int
    peak_ckwh: int | None
    valley_ckwh: int | None
    used_before_ckwh: int
    lines: tuple[BillLine, ...]
    subtotal: str
    total_fen: int
    allowance_refund_fen: int
    from_prepaid_fen: int
    owed_fen: int  # the part billed as arrears (ledger bill amount)
    outstanding_fen: int  # what of it is still unpaid
    due_date: dt.date
    issued_on: dt.date
    customer_name: str
    currency: str

    @property
    def status(self) -> str:
        if self.total_fen == 0:
            return "zero"
        if self.outstanding_fen == 0:
            return "paid"
        return "open" if self.outstanding_fen == self.owed_fen else "part_paid"

    def as_dict(self) -> dict[str, object]:
        from vouchers.metering.units import format_kwh
        from vouchers.money import format_amount

        return {
            "bill_id": self.bill_id, "account_no": self.account_no, "period": self.period, "tariff": self.tariff_id,
            "version": self.version_from.isoformat(), "tariff_period_start": self.tariff_period_start.isoformat(),
            "months_of_supply": self.months_of_supply, "payment_mode": self.payment_mode,
            "opening_date": self.opening_date.isoformat() if self.opening_date else None,
            "closing_date": self.closing_date.isoformat(), "kwh": format_kwh(self.kwh_ckwh),
            "peak_kwh": format_kwh(self.peak_ckwh), "valley_kwh": format_kwh(self.valley_ckwh),
            "used_before_kwh": format_kwh(self.used_before_ckwh),
            "lines": [{"version": line.version_from.isoformat(), "tier": line.tier, "kind": line.kind,
                       "kwh": format(line.kwh, "f"), "price": format(line.price, "f"),
                       "amount": format(line.amount, "f")} for line in self.lines],
            "subtotal": self.subtotal, "total": format_amount(self.total_fen),
            "allowance_refund": format_amount(self.allowance_refund_fen),
            "from_prepaid": format_amount(self.from_prepaid_fen), "owed": format_amount(self.owed_fen),
            "outstanding": format_amount(self.outstanding_fen), "due_date": self.due_date.isoformat(),
            "issued_on": self.issued_on.isoformat(), "status": self.status, "currency": self.currency,
        }


def _views(session: Session, where) -> list[BillView]:  # type: ignore[no-untyped-def]
    rows = session.execute(
        select(MeteringBill, CustomerBill.amount, CustomerBill.outstanding, CustomerAccount.name,
               CustomerAccount.currency)
        .join(CustomerAccount, CustomerAccount.account_no == MeteringBill.account_no)
        .outerjoin(CustomerBill, CustomerBill.id == MeteringBill.customer_bill_id)
        .where(where).order_by(MeteringBill.period.desc(), MeteringBill.id.desc())).all()
    return [BillView(b.id, b.account_no, b.period, b.tariff_id, b.version_from, b.tariff_period_start,
                     b.months_of_supply, b.payment_mode, b.customer_class, b.opening_date, b.closing_date, b.kwh_ckwh,
                     b.peak_ckwh, b.valley_ckwh, b.used_before_ckwh, lines_from_json(b.lines), b.subtotal,
                     b.total_fen, b.allowance_refund_fen, b.from_prepaid_fen, int(amount or 0),
                     int(outstanding or 0), b.due_date, b.issued_on, name, currency)
            for b, amount, outstanding, name, currency in rows]


def get_bill(session: Session, bill_id: int) -> BillView:
    found = _views(session, MeteringBill.id == bill_id) if isinstance(bill_id, int) else []
    if not found:
        raise BillNotFound(f"no bill {bill_id!r}")
    return found[0]


def bills_of(session: Session, account_no: str, *, limit: int = 24) -> list[BillView]:
    return _views(session, MeteringBill.account_no == account_no)[:limit]
