"""Benchmark: a monthly billing run on PostgreSQL against COPY of as many bill rows.

    .venv/bin/python bench/bench_billing.py --accounts 50000

Creates a database of its own (dropped at the end unless ``--keep``), loads
``--accounts`` customer accounts with synthetic readings by COPY (not timed):
half Jiangxi annual tiers (postpaid, with an earlier bill of the same tariff
year so positions in the year vary and some accounts cross 2160 kWh), half
Fujian monthly tiers (prepaid, with random balances, so some bills are paid
from the balance, some partly, some not at all). Then it times

1. ``metering.billing.run_billing`` for period 2026-11: every account billed,
   posted to the books (one journal transaction per batch), ledger bills for
   what the balances do not cover; ``--billing-runs`` times (default 2), each
   on a fresh copy of the set-up database (``CREATE DATABASE ... TEMPLATE``)
   with its own fork server, the fastest counting;
2. in the same process and the last run's database, ``COPY metering_bills FROM
   STDIN`` of the same number of bill rows built in Python (the floor for
   writing one row per bill), in the text and in the binary format, each
   twice; the fastest of the four counts.

Both sides are the best of several runs: on a shared machine one run of
either can be 10% slower than another minutes apart, and the best of four
COPY runs against a single billing run would bias the ratio low.

The setup ends with ``VACUUM ANALYZE`` (the state of a database in service).
Prints one JSON line: accounts/s of both, their ratio (target >= 0.25), the
peak RSS of each phase (this process and its worker processes together,
sampled while the phase runs, so setup does not count), the CPU seconds of
those processes during the run (the Python side), an estimate of the CPU
seconds of the database's server processes, and the load average before and
after (the machine may be shared).
"""
from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import random
import sys
import threading
import time
import uuid
from multiprocessing import forkserver
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from vouchers.metering.billing import run_billing
from vouchers.metering.bulk import column_types
from vouchers.metering.config import MeteringConfig
from vouchers.storage.db import make_engine, session_factory
from vouchers.storage.migrate import upgrade_to_head
from vouchers.tariffs import load_catalog

ADMIN_URL = os.environ.get("VOUCHER_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
UTC = dt.UTC


def rss_mib(pid: int | str = "self") -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:  # the process has just ended
        return 0.0
    return float("nan")  # pragma: no cover - not Linux


def descendants(pid: int) -> list[int]:
    """Child processes, recursively (the billing workers are children of a fork server)."""
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            children = [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
        for child in children:
            found.append(child)
            found.extend(descendants(child))
    return found


TICK = os.sysconf("SC_CLK_TCK")


def cpu_of(pid: int) -> float:
    """User + system CPU seconds of one process (all its threads)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


class TreeUsage:
    """Peak resident set size of this process and its children together, and the CPU seconds they
    use, sampled every 10 ms while the block runs (the workers are separate processes).

    (VmHWM would include the setup, and resetting it through /proc/self/clear_refs
    is not allowed in every container.) A child's CPU is its last sample: at most 10 ms is missed."""

    def __init__(self, engine=None) -> None:  # type: ignore[no-untyped-def]
        self.engine = engine  # given: also the CPU of the database's server processes (backends)
        self.server_cpu_last: dict[int, float] = {}
        self.server_cpu_start: dict[int, float] = {}

    def __enter__(self) -> TreeUsage:
        self.me = os.getpid()
        self.known = set(descendants(self.me))  # e.g. a fork server started earlier: its CPU before counts not
        self.cpu_start = {pid: cpu_of(pid) for pid in self.known}
        self.cpu_start[self.me] = cpu_of(self.me)
        self.cpu_last: dict[int, float] = dict(self.cpu_start)
        self.peak = rss_mib()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample_once(self) -> None:
        pids = [self.me, *descendants(self.me)]
        self.peak = max(self.peak, sum(rss_mib(p) for p in pids))
        for pid in pids:
            used = cpu_of(pid)
            if used:
                self.cpu_last[pid] = max(self.cpu_last.get(pid, 0.0), used)

    def _sample(self) -> None:
        conn = self.engine.connect() if self.engine is not None else None
        backends: list[int] = []
        ticks = 0
        try:
            while not self._stop.wait(0.01):
                self._sample_once()
                if conn is None:
                    continue
                if ticks % 10 == 0:  # which backends serve the benchmark's database (not this one)
                    backends = list(conn.execute(text(
                        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                        "AND pid <> pg_backend_pid()")).scalars())
                    conn.rollback()
                ticks += 1
                for pid in backends:
                    used = cpu_of(pid)
                    if used:
                        self.server_cpu_start.setdefault(pid, used)
                        self.server_cpu_last[pid] = max(self.server_cpu_last.get(pid, 0.0), used)
        finally:
            if conn is not None:
                conn.close()

    @property
    def server_cpu_s(self) -> float:
        """CPU of the database's backends (a backend first seen mid-run counts from then: an estimate)."""
        return sum(used - self.server_cpu_start[pid] for pid, used in self.server_cpu_last.items())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample_once()

    @property
    def cpu_s(self) -> float:
        return sum(used - self.cpu_start.get(pid, 0.0) for pid, used in self.cpu_last.items())


def copy_rows(raw, table: str, columns: tuple[str, ...], rows, *, binary: bool = False) -> None:  # type: ignore[no-untyped-def]
    """COPY ``rows`` in the text format, or in the binary format typed from the table's columns."""
    with raw.cursor() as cur:
        options = " (FORMAT BINARY)" if binary else ""
        types = column_types(cur, table, columns) if binary else []
        with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN{options}") as copy:
            if binary:
                copy.set_types(types)
            for row in rows:
                copy.write_row(row)


def setup(engine, n: int, seed: int, fractional: bool) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    created = dt.datetime(2026, 1, 1, tzinfo=UTC)
    with engine.begin() as conn:
        raw = conn.connection.driver_connection
        conn.execute(text("INSERT INTO ledger_accounts (id, code, currency, kind, balance, created_at) VALUES "
                          "(1, 'bank', 'CNY', 'asset', 0, :t), (2, 'revenue:electricity', 'CNY', 'income', 0, :t), "
                          "(3, 'expense:low_income_allowance', 'CNY', 'expense', 0, :t)"), {"t": created})
        balances = [rng.choice((0, 0, 5_000, 20_000, 100_000)) if i % 2 else 0 for i in range(n)]
        # customers: ledger accounts 4.. (arrears, prepaid pairs)
        copy_rows(raw, "ledger_accounts", ("id", "code", "currency", "kind", "balance", "created_at"), (
            row for i in range(n) for row in (
                (4 + 2 * i, f"customer_arrears:B{i:08d}", "CNY", "asset", 0, created),
                (5 + 2 * i, f"customer_prepaid:B{i:08d}", "CNY", "liability", -balances[i], created))))
        conn.execute(text("SELECT setval(pg_get_serial_sequence('ledger_accounts', 'id'), :m)"), {"m": 3 + 2 * n})
        copy_rows(raw, "customer_accounts", ("id", "account_no", "name", "currency", "arrears_account_id",
                                             "prepaid_account_id", "created_at"),
                  ((i + 1, f"B{i:08d}", f"bench {i}", "CNY", 4 + 2 * i, 5 + 2 * i, created) for i in range(n)))
        conn.execute(text("SELECT setval(pg_get_serial_sequence('customer_accounts', 'id'), :m)"), {"m": n})
        # the opening balances, booked so the books balance
        total = sum(balances)
        if total:
            conn.execute(text("INSERT INTO ledger_transactions (id, kind, source, external_ref, occurred_at, "
                              "posted_at) VALUES (1, 'opening', 'bench', 'opening', :t, :t)"), {"t": created})
            conn.execute(text("SELECT setval(pg_get_serial_sequence('ledger_transactions', 'id'), 1)"))
            copy_rows(raw, "ledger_postings", ("transaction_id", "line", "account_id", "currency", "amount"),
                      [(1, 1, 1, "CNY", total)] + [(1, 2 + k, 5 + 2 * i, "CNY", -b) for k, (i, b) in enumerate(
                          (i, b) for i, b in enumerate(balances) if b)])
            conn.execute(text("UPDATE ledger_accounts SET balance = :t WHERE id = 1"), {"t": total})
        copy_rows(raw, "metering_accounts", (
            "account_no", "tariff_id", "customer_class", "payment_mode", "low_income", "time_of_use",
            "large_customer", "area", "meter_no", "created_at", "updated_at"),
            ((f"B{i:08d}", "fj-residential" if i % 2 else "jx-residential", "residential",
              "prepaid" if i % 2 else "postpaid", False, False, False, f"area-{i % 7}", f"MB{i:08d}", created, created)
             for i in range(n)))
        copy_rows(raw, "meters", ("meter_no", "account_no", "installed_on"),
                  ((f"MB{i:08d}", f"B{i:08d}", dt.date(2026, 2, 1)) for i in range(n)))
        opening = [rng.randrange(0, 5_000_000) for _ in range(n)]
        used = [rng.randrange(0, 400_000) for _ in range(n)]  # kWh hundredths used earlier this tariff year
        # this month's consumption in hundredths: whole kWh (docs/tariffs.md §2: a bill's kWh is an integer
        # register difference) unless --fractional-kwh
        use = [rng.randrange(0, 60_000) if fractional else rng.randrange(0, 600) * 100 for _ in range(n)]
        copy_rows(raw, "meter_readings", (
            "account_no", "meter_no", "reading_date", "reading_ckwh", "kwh_ckwh", "replacement", "source",
            "created_at"), (row for i in range(n) for row in (
                (f"B{i:08d}", f"MB{i:08d}", dt.date(2026, 10, 20), opening[i], used[i] if i % 2 == 0 else 0, False,
                 "bench", created),
                (f"B{i:08d}", f"MB{i:08d}", dt.date(2026, 11, 20), opening[i] + use[i], use[i], False, "bench",
                 created))))
        # the October bills (history only: positions in the Jiangxi tariff year)
        copy_rows(raw, "metering_bills", (
            "account_no", "period", "tariff_id", "version_from", "tariff_period_start", "months_of_supply",
            "payment_mode", "customer_class", "closing_date", "kwh_ckwh", "used_before_ckwh", "period_kwh_ckwh",
            "lines", "subtotal", "total_fen", "due_date", "issued_on", "issued_at"),
            ((f"B{i:08d}", "2026-10", "fj-residential" if i % 2 else "jx-residential",
              dt.date(2016, 11, 1) if i % 2 else dt.date(2012, 7, 1),
              dt.date(2026, 10, 1) if i % 2 else dt.date(2026, 2, 1), 1 if i % 2 else 12,
              "prepaid" if i % 2 else "postpaid", "residential", dt.date(2026, 10, 20), used[i] if i % 2 == 0 else 0,
              0, used[i] if i % 2 == 0 else 0, "[]", "0", 0, dt.date(2026, 10, 31), dt.date(2026, 10, 31), created)
             for i in range(n)))
    # a database in service is vacuumed (autovacuum runs after a bulk load): without this the billing run
    # would also pay for setting the hint bits of every freshly loaded row it reads
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))


def copy_baseline(engine, n: int, period: str, *, binary: bool) -> float:  # type: ignore[no-untyped-def]
    issued = dt.datetime(2026, 12, 1, tzinfo=UTC)
    lines = '[["2012-07-01","1","energy","123.45","0.60","74.0700"]]'
    columns = ("account_no", "period", "tariff_id", "version_from", "tariff_period_start", "months_of_supply",
               "payment_mode", "customer_class", "opening_date", "closing_date", "kwh_ckwh", "used_before_ckwh",
               "period_kwh_ckwh", "lines", "subtotal", "total_fen", "allowance_refund_fen", "from_prepaid_fen",
               "due_date", "issued_on", "issued_at")
    started = time.perf_counter()
    with engine.begin() as conn:
        raw = conn.connection.driver_connection
        copy_rows(raw, "metering_bills", columns, (
            (f"B{i:08d}", period, "jx-residential", dt.date(2012, 7, 1), dt.date(2026, 2, 1), 12, "postpaid",
             "residential", dt.date(2026, 12, 20), dt.date(2027, 1, 20), 12345 + i % 1000, 0, 12345 + i % 1000,
             lines, "74.0700", 7407, 0, 0, dt.date(2027, 2, 7), dt.date(2027, 1, 31), issued)
            for i in range(n)), binary=binary)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=50_000)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument("--workers", type=int, default=2, help="billing worker processes")
    parser.add_argument("--billing-runs", type=int, default=2,
                        help="billing runs, each on a fresh copy of the set-up database; the fastest counts")
    parser.add_argument("--fractional-kwh", action="store_true",
                        help="consumption in 0.01 kWh steps (default: whole kWh); fewer repeated quotes")
    args = parser.parse_args(argv)

    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"voucher_bench_billing_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    try:
        upgrade_to_head(engine)
        t0 = time.perf_counter()
        setup(engine, args.accounts, args.seed, args.fractional_kwh)
        setup_s = time.perf_counter() - t0
        catalog = load_catalog()
        config = MeteringConfig(batch_size=args.batch_size, billing_workers=args.workers)
        engine.dispose()  # the set-up database is the template of each run's copy (no session may use it)
        runs = []
        for run in range(1, args.billing_runs + 1):
            if run > 1:  # the previous run's copy goes; the last one stays for the COPY baseline
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE "{name}_run{run - 1}" WITH (FORCE)'))
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}_run{run}" TEMPLATE "{name}" STRATEGY FILE_COPY'))
            engine = make_engine(make_url(url).set(database=f"{name}_run{run}").render_as_string(
                hide_password=False))
            factory = session_factory(engine)
            gc.collect()
            rss_before = rss_mib()
            load_before = os.getloadavg()[0]
            with TreeUsage(engine) as billing_rss:
                started = time.perf_counter()
                result = run_billing(factory, "2026-11", as_of=dt.date(2026, 11, 30),
                                     now=dt.datetime(2026, 11, 30, 12, tzinfo=UTC), catalog=catalog, config=config,
                                     actor="bench")
                billing_s = time.perf_counter() - started
            assert result.billed == args.accounts, result
            runs.append((billing_s, billing_rss, rss_before, load_before))
            if run < args.billing_runs:
                engine.dispose()
                # every run starts its fork server, as a `voucherctl billing run` does (private API: bench only)
                stop = getattr(getattr(forkserver, "_forkserver", None), "_stop", None)
                if stop is not None:
                    stop()
        billing_s, billing_rss, rss_before, load_before = min(runs, key=lambda r: r[0])
        billing_cpu_s = billing_rss.cpu_s
        gc.collect()
        with TreeUsage() as copy_rss:
            # in both COPY formats (the billing run writes in the binary one), each twice (four more periods),
            # the fastest counting: a machine shared with other work can slow one COPY down, and a slow
            # baseline would flatter the ratio
            copies = {(period, binary): copy_baseline(engine, args.accounts, period, binary=binary)
                      for period, binary in (("2027-01", False), ("2027-02", True), ("2027-03", False),
                                             ("2027-04", True))}
        copy_s = min(copies.values())
        with engine.connect() as conn:
            open_bills = conn.execute(text("SELECT count(*) FROM customer_bills")).scalar_one()
            postings = conn.execute(text("SELECT count(*) FROM ledger_postings")).scalar_one()
        report = {
            "accounts": args.accounts, "batch_size": args.batch_size, "workers": args.workers,
            "fractional_kwh": args.fractional_kwh,
            "billing_s": round(billing_s, 2), "billing_runs_s": [round(r[0], 2) for r in runs],
            "billing_accounts_per_s": round(args.accounts / billing_s),
            "billing_process_cpu_s": round(billing_cpu_s, 2),
            "billing_server_cpu_s": round(billing_rss.server_cpu_s, 2),
            "copy_s": round(copy_s, 2), "copy_text_runs_s": [round(c, 2) for (_, b), c in copies.items() if not b],
            "copy_binary_runs_s": [round(c, 2) for (_, b), c in copies.items() if b],
            "copy_rows_per_s": round(args.accounts / copy_s),
            "ratio": round(copy_s / billing_s, 3), "target_ratio": 0.25,
            "billing_peak_rss_mib": round(billing_rss.peak, 1), "copy_peak_rss_mib": round(copy_rss.peak, 1),
            "rss_at_start_mib": round(rss_before, 1), "setup_s": round(setup_s, 1),
            "ledger_bills_created": open_bills, "postings": postings, "total": result.as_dict()["total"],
            "load_avg_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "python": platform.python_version(), "machine": platform.machine(), "cpus_visible": os.cpu_count(),
        }
        print(json.dumps(report))
    finally:
        engine.dispose()
        if not args.keep:
            with admin.connect() as conn:
                for database in (name, *(f"{name}_run{run}" for run in range(1, args.billing_runs + 1))):
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
