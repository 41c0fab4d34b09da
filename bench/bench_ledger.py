"""Benchmark of the books on PostgreSQL: payments import and reconciliation vs. COPY.

    .venv/bin/python bench/bench_ledger.py --lines 1000000

Creates its own database (dropped at the end unless --keep), customers (one
per ten lines by default, 5 % of them with an open bill), a generic payments
file of --lines lines and a settlement file of the same payments with a few
of each mismatch kind. Then, each phase in a fresh process so its peak RSS
is its own:

1. COPY of the payments file into a plain table (PostgreSQL's own ceiling);
2. ``payments import`` of the same file (ledger.imports.import_file, one transaction;
   also its database backend's CPU time, steadier than wall time on a shared machine);
3. reconciliation of the settlement file against the booked payments
   (ledger.reconcile.reconcile_file, settling the matches).

Prints the figures and the ratio import rate / COPY rate.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

NOW = dt.datetime(2026, 11, 26, 2, 0, tzinfo=dt.timezone.utc)
HEADER = "external_ref,account_no,amount,currency,paid_at\n"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def account_no(i: int) -> str:
    return f"31{i:08d}"


def line(ref: str, account: int, amount: int, second: int) -> str:
    t = dt.datetime(2026, 11, 25, tzinfo=dt.timezone(dt.timedelta(hours=8))) + dt.timedelta(seconds=second)
    return f"{ref},{account_no(account)},{amount // 100}.{amount % 100:02d},CNY,{t.isoformat()}\n"


def write_files(folder: Path, lines: int, accounts: int, seed: int = 7) -> tuple[Path, Path, dict]:
    """The payments file, and the channel's settlement file of the same day with known differences."""
    rng = random.Random(seed)
    payments, settlement = folder / "payments.csv", folder / "settlement.csv"
    odd = max(1, lines // 1000)  # 0.1 % of each mismatch kind
    expected = {"matched": lines - 2 * odd, "amount_mismatch": odd, "missing_in_file": odd, "missing_in_books": odd}
    with payments.open("w") as p, settlement.open("w") as s:
        p.write(HEADER)
        s.write(HEADER)
        for i in range(lines):
            ref, account, amount = f"AP{i:012d}", rng.randrange(accounts), rng.randint(100, 50_000)
            second = i * 86_000 // lines
            p.write(line(ref, account, amount, second))
            if i < odd:
                continue  # booked, absent from the settlement file
            s.write(line(ref, account, amount + 1 if i < 2 * odd else amount, second))
        for j in range(odd):
            s.write(line(f"XX{j:012d}", rng.randrange(accounts), 1000, 86_300))  # settled, never booked
    return payments, settlement, expected


def setup_database(url: str, accounts: int, arrears_share: float) -> None:
    from vouchers.storage.db import make_engine
    from vouchers.storage.migrate import upgrade_to_head

    engine = make_engine(url)
    upgrade_to_head(engine)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO ledger_accounts (code, currency, kind, balance, created_at) "
            "SELECT v.k || '\\:31' || lpad(g::text, 8, '0'), 'CNY', v.kind, 0, :now "
            "FROM generate_series(0, :n - 1) g, (VALUES ('customer_arrears', 'asset'), "
            "('customer_prepaid', 'liability')) v(k, kind)"), {"n": accounts, "now": NOW})
        conn.execute(text(
            "INSERT INTO customer_accounts (account_no, name, currency, arrears_account_id, prepaid_account_id, "
            "created_at) SELECT '31' || lpad(g::text, 8, '0'), 'bench', 'CNY', a.id, p.id, :now "
            "FROM generate_series(0, :n - 1) g "
            "JOIN ledger_accounts a ON a.code = 'customer_arrears\\:31' || lpad(g::text, 8, '0') "
            "JOIN ledger_accounts p ON p.code = 'customer_prepaid\\:31' || lpad(g::text, 8, '0')"),
            {"n": accounts, "now": NOW})
    from vouchers.books import customers
    from vouchers.storage.db import session_factory

    rng = random.Random(11)
    with session_factory(engine).begin() as session:  # bills through the service (a few thousand)
        for i in rng.sample(range(accounts), int(accounts * arrears_share)):
            customers.issue_bill(session, account_no(i), rng.randint(1_000, 30_000), due_date=dt.date(2026, 10, 25),
                                 bill_ref="2026-10", now=NOW)
    engine.dispose()
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("VACUUM ANALYZE"))
    admin.dispose()


def phase_copy(url: str, path: str, queue: mp.Queue) -> None:
    import psycopg

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE TABLE copy_baseline (external_ref text, account_no text, amount numeric, "
                     "currency text, paid_at timestamptz)")
        conn.commit()
        started = time.perf_counter()
        with conn.cursor() as cursor, open(path, "rb") as f:
            with cursor.copy("COPY copy_baseline FROM STDIN WITH (FORMAT csv, HEADER true)") as copy:
                while block := f.read(1 << 20):
                    copy.write(block)
        conn.commit()
        seconds = time.perf_counter() - started
        conn.execute("DROP TABLE copy_baseline")
        conn.commit()
    queue.put({"seconds": seconds, "rss_mb": rss_mb()})


def phase_import(url: str, path: str, queue: mp.Queue) -> None:
    from vouchers.books.imports import import_file
    from vouchers.storage.db import make_engine, session_factory

    engine = make_engine(url)
    factory = session_factory(engine)
    with engine.connect() as conn:  # the pooled connection the import will use
        backend = conn.connection.driver_connection.info.backend_pid
    cpu_before, started = backend_cpu(backend), time.perf_counter()
    with factory.begin() as session:
        result = import_file(session, "alipay", Path(path), now=NOW, actor="bench")
    seconds = time.perf_counter() - started
    cpu_after = backend_cpu(backend)
    engine.dispose()
    queue.put({"seconds": seconds, "rss_mb": rss_mb(), "booked": result.booked, "fast_path": result.fast_path,
               "backend_cpu": None if cpu_before is None or cpu_after is None else cpu_after - cpu_before})


def backend_cpu(pid: int) -> float | None:
    """CPU seconds of a local PostgreSQL backend so far (Linux), or None."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


def phase_reconcile(url: str, path: str, queue: mp.Queue) -> None:
    from vouchers.books.reconcile import reconcile_file
    from vouchers.storage.db import make_engine, session_factory

    engine = make_engine(url)
    factory = session_factory(engine)
    started = time.perf_counter()
    with factory.begin() as session:
        r = reconcile_file(session, "alipay", Path(path), now=NOW + dt.timedelta(hours=1), actor="bench")
    seconds = time.perf_counter() - started
    engine.dispose()
    queue.put({"seconds": seconds, "rss_mb": rss_mb(), "matched": r.matched, "settled": r.settled_count,
               "amount_mismatch": len(r.amount_mismatch), "missing_in_file": len(r.missing_in_file),
               "missing_in_books": len(r.missing_in_books)})


def phase_verify(url: str, _path: str, queue: mp.Queue) -> None:
    from vouchers.books.verify import verify
    from vouchers.storage.db import make_engine, session_factory

    engine = make_engine(url)
    started = time.perf_counter()
    with session_factory(engine).begin() as session:
        report = verify(session)
    queue.put({"seconds": time.perf_counter() - started, "rss_mb": rss_mb(), "ok": report.ok,
               "problems": [p.message for p in report.problems[:5]]})
    engine.dispose()


def run_phase(target, url: str, path: Path) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    process = ctx.Process(target=target, args=(url, str(path), queue))
    process.start()
    result = queue.get()
    process.join()
    if process.exitcode:
        raise SystemExit(f"{target.__name__} failed with exit code {process.exitcode}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=None, help="customers (default: lines / 10)")
    parser.add_argument("--arrears-share", type=float, default=0.05, help="share of customers with an open bill")
    parser.add_argument("--admin-url", default=os.environ.get(
        "VOUCHER_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    accounts = args.accounts or max(1, args.lines // 10)
    name = f"ledger_bench_{os.getpid()}"
    admin = create_engine(args.admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(args.admin_url).set(database=name).render_as_string(hide_password=False)
    figures: dict = {"lines": args.lines, "accounts": accounts, "date": dt.datetime.now(dt.timezone.utc).isoformat(
        timespec="seconds"), "cpus": os.cpu_count()}
    try:
        with tempfile.TemporaryDirectory() as folder:
            t = time.perf_counter()
            payments, settlement, expected = write_files(Path(folder), args.lines, accounts)
            setup_database(url, accounts, args.arrears_share)
            figures["setup_seconds"] = round(time.perf_counter() - t, 1)
            figures["file_mb"] = round(payments.stat().st_size / 1e6, 1)
            figures["load_average_before"] = round(os.getloadavg()[0], 1)  # the machine may be shared
            copy = run_phase(phase_copy, url, payments)
            imported = run_phase(phase_import, url, payments)
            figures["load_average_after"] = round(os.getloadavg()[0], 1)
            reconciled = run_phase(phase_reconcile, url, settlement)
            verified = run_phase(phase_verify, url, payments)
    finally:
        if not args.keep:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    copy_rate = args.lines / copy["seconds"]
    import_rate = imported["booked"] / imported["seconds"]
    figures.update({
        "copy": {"seconds": round(copy["seconds"], 2), "rows_per_second": round(copy_rate)},
        "import": {"seconds": round(imported["seconds"], 2), "payments_per_second": round(import_rate),
                   "backend_cpu_seconds": None if imported["backend_cpu"] is None
                   else round(imported["backend_cpu"], 2),
                   "peak_rss_mb": round(imported["rss_mb"]), "fast_path": imported["fast_path"]},
        "import_vs_copy": round(import_rate / copy_rate, 3),
        "reconcile": {"seconds": round(reconciled["seconds"], 2), "peak_rss_mb": round(reconciled["rss_mb"]),
                      "matched": reconciled["matched"], "settled": reconciled["settled"],
                      "amount_mismatch": reconciled["amount_mismatch"],
                      "missing_in_file": reconciled["missing_in_file"],
                      "missing_in_books": reconciled["missing_in_books"], "expected": expected},
        "verify": {"seconds": round(verified["seconds"], 2), "ok": verified["ok"]},
    })
    if args.json:
        print(json.dumps(figures))
        return
    print(f"lines {args.lines:,}, customers {accounts:,}, file {figures['file_mb']} MB, "
          f"setup {figures['setup_seconds']} s, "
          f"load average {figures['load_average_before']} -> {figures['load_average_after']} "
          f"on {figures['cpus']} CPUs")
    print(f"COPY into a plain table : {copy['seconds']:8.2f} s  {copy_rate:12,.0f} rows/s")
    print(f"payments import         : {imported['seconds']:8.2f} s  {import_rate:12,.0f} payments/s  "
          f"peak RSS {imported['rss_mb']:.0f} MB  (fast path: {imported['fast_path']}; database backend CPU "
          f"{figures['import']['backend_cpu_seconds']} s)")
    print(f"import / COPY           : {figures['import_vs_copy']:.3f}x   (target >= 0.25x)")
    print(f"reconciliation          : {reconciled['seconds']:8.2f} s  peak RSS {reconciled['rss_mb']:.0f} MB  "
          f"(targets < 60 s, < 500 MB)")
    print(f"  matched {reconciled['matched']:,} (settled {reconciled['settled']:,}), amount_mismatch "
          f"{reconciled['amount_mismatch']}, missing_in_file {reconciled['missing_in_file']}, missing_in_books "
          f"{reconciled['missing_in_books']}; expected {expected}")
    print(f"ledger verify           : {verified['seconds']:8.2f} s  ok={verified['ok']}")


if __name__ == "__main__":
    main()
