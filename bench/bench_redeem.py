"""Redemption throughput and latency against ``voucherctl serve`` on PostgreSQL, with wrk, next to pgbench.

In one run: PostgreSQL's own TPC-B (``pgbench``, scale 10, the same
connections and threads, against its own database on the same server, with
``synchronous_commit = on``) as the anchor; then every wrk request redeems a
fresh, valid code (its own Idempotency-Key) onto one of many accounts. The
summary gives both rates and their ratio, p50/p99 of both, CPU per
transaction in gunicorn and in the PostgreSQL backends (/proc), the
database's transactions and row counters per redemption (pg_stat_database),
the SQL statements per redemption (counted in process after the run), and the
books checked afterwards: zero double spends.

    .venv/bin/python bench/bench_redeem.py --codes 30000 --accounts 2000 --duration 15
    .venv/bin/python bench/bench_redeem.py --codes 30000 --accounts 2000 --duration 15 --size 1m

``--size 1m`` / ``--size 20m`` first loads history with COPY (1,000,000 /
20,000,000 issued vouchers, 2,500,000 / 50,000,000 postings; ``--issued`` and
``--postings`` set other sizes). ``--echo`` also loads a bare Flask JSON echo
(the earlier anchor).

Needs: PostgreSQL (``--pg-url``, an admin URL; throw-away databases are
created and dropped), Debian ``wrk`` and ``pgbench``. Prints a JSON summary and
a Markdown table for docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PASSPHRASE = "bench passphrase (not secret)"
WEB_PASSPHRASE = "bench web secret (not secret)"  # all the web process gets
BOOT = (
    "import sys\n"
    "from voucherctl.main import cli, main\n"
    "from voucherctl.serve_cmd import serve\n"
    "cli.commands.setdefault('serve', serve)\n"
    "sys.exit(main(sys.argv[1:]))\n"
)

LUA = r"""
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
function init(args)
  nthreads = tonumber(args[1]); mode = args[3]; key = args[4]
  items = {}
  local i = 0
  for line in io.lines(args[2]) do
    if i % nthreads == tid then items[#items + 1] = line end
    i = i + 1
  end
  idx = 0
  statuses = {}
  exhausted = 0
end
function request()
  idx = idx + 1
  local line = items[idx]
  if line == nil then line = items[#items]; exhausted = exhausted + 1 end
  local code, acct, k = line:match("(%S+) (%S+) (%S+)")
  local body = '{"code":"' .. code .. '","account_no":"' .. acct .. '"}'
  local path = "/api/v1/redemptions"
  if mode == "echo" then path = "/echo" end
  return wrk.format("POST", path, {["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. k, ["Idempotency-Key"] = "bench-" .. tid .. "-" .. idx}, body)
end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
function done(summary, latency, requests)
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do io.write(string.format("STATUS %d %d\n", k, v)) end
    io.write(string.format("EXHAUSTED %d\n", t:get("exhausted")))
  end
  for _, p in ipairs({50, 90, 99, 99.9}) do
    io.write(string.format("PCT %g %d\n", p, latency:percentile(p)))
  end
end
"""


def echo_app():
    """The ceiling: a bare Flask JSON echo on the same server settings."""
    from flask import Flask, jsonify, request

    app = Flask("echo")

    @app.post("/echo")
    def echo():
        return jsonify(request.get_json()), 201

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    return app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("server did not come up")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _cpu_seconds(pids: list[int]) -> float:
    """utime + stime of ``pids`` (Linux /proc), in seconds; vanished processes count 0."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / tick


def server_pids(group: int) -> list[int]:
    """The gunicorn master (``group``, its own session) and its workers."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == group:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def backend_pids(db_url: str) -> list[int]:
    """The PostgreSQL backends connected to the bench database (the server's pool)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            return list(c.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = :d "
                                       "AND pid <> pg_backend_pid()"), {"d": url.database}).scalars())
    finally:
        engine.dispose()


def run_wrk(url: str, lua: Path, items: Path, mode: str, key: str, args) -> dict:
    cmd = ["wrk", f"-t{args.wrk_threads}", f"-c{args.connections}", f"-d{args.duration}s", "--latency",
           "--timeout", "10s", "-s", str(lua), url, "--", str(args.wrk_threads), str(items), mode, key]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    statuses: dict[int, int] = {}
    for code, n in re.findall(r"^STATUS (\d+) (\d+)$", out, re.M):
        statuses[int(code)] = statuses.get(int(code), 0) + int(n)
    pct = {float(p): int(us) / 1000 for p, us in re.findall(r"^PCT ([\d.]+) (\d+)$", out, re.M)}
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Socket errors: (.*)$", out, re.M)
    return {"requests_per_second": rps, "p50_ms": pct[50.0], "p90_ms": pct[90.0], "p99_ms": pct[99.0],
            "p999_ms": pct[99.9], "statuses": statuses,
            "exhausted": sum(int(n) for n in re.findall(r"^EXHAUSTED (\d+)$", out, re.M)),
            "socket_errors": errors.group(1) if errors else None, "raw": out}


def prepare(args, home: Path, db_url: str) -> tuple[str, Path]:
    """Schema, keys, one batch, accounts and ``--terminals`` terminal clients, all made and the batch activated
    ``--age-days`` ago; returns (the first API key, items file: one "code account key" line per card).

    The load looks like a fleet's, not like fraud: cards sold weeks before they are redeemed, each account
    and terminal a few cards (``--accounts`` and ``--terminals`` large enough), so the inline fraud rules run
    their queries on every redemption but raise no alerts (that path is measured by bench/bench_fraud.py)."""
    from issuer.batches import BatchRequest, approve_batch, create_batch
    from issuer.cardstore import card_file_path, read_cards
    from issuer.signing_keys import create_key
    from vouchers.keystore.store import KeyStore
    from vouchers.books.customers import create_customer
    from vouchers.books.voucher_books import activate
    from vouchers.services.clients import create_client
    from vouchers.storage.db import make_engine, session_factory
    from vouchers.storage.migrate import upgrade_to_head

    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=args.age_days)
    engine = make_engine(db_url)
    upgrade_to_head(engine)
    sessions = session_factory(engine)
    store = KeyStore(home)
    store.initialise(PASSPHRASE, WEB_PASSPHRASE)
    create_key(store, PASSPHRASE, now)
    t0 = time.perf_counter()
    summary = create_batch(sessions, store, PASSPHRASE,
                           BatchRequest(face_value=5000, count=args.codes, expires=now.date() + dt.timedelta(days=365),
                                        currency="CNY", operator="bench-maker"),
                           web_passphrase=WEB_PASSPHRASE, now=now, today=now.date(), issuer_code=1, max_count=10_000_000)
    with sessions.begin() as s:
        approve_batch(s, summary.batch_id, "bench-checker", now)
        activate(s, summary.batch_id, "BENCH", now=now, actor="bench")
        for i in range(args.accounts):
            create_customer(s, f"88{i:08d}", f"bench customer {i}", now=now)
        keys = [create_client(s, name=f"bench terminal {t}", role="terminal", now=now)[1]
                for t in range(args.terminals)]
    print(f"prepared {args.codes} codes, {args.accounts} accounts, {args.terminals} terminals in {time.perf_counter() - t0:.1f}s",
          file=sys.stderr)
    items = home / "items.txt"
    with items.open("w") as f:
        for i, card in enumerate(read_cards(card_file_path(home, summary.batch_id),
                                            store.cardstore_identity(PASSPHRASE))):
            f.write(f"{card.code} 88{i % args.accounts:08d} {keys[i % len(keys)]}\n")
    os.chmod(items, 0o600)
    engine.dispose()
    return keys[0], items


def verify(before: dict[str, int], after: dict[str, int], created: int, connections: int) -> dict:
    """Zero double spends: one redemption, one journal transaction, one status change per card, counted as
    differences across the load (history loaded by ``--size`` aside); one redemption row per voucher in all.

    wrk stops with up to ``connections`` requests still in flight; the server
    finishes them, so a few more cards may be redeemed than 201s were counted.
    """
    d = {k: after[k] - before[k] for k in after}
    ok = (d["redemptions"] == d["vouchers_redeemed"] == d["journal_redemptions"]
          and after["redemptions"] == after["distinct_vouchers"] and d["prepaid_total"] == d["face_redeemed"]
          and created <= d["redemptions"] <= created + connections)
    return {"created_201": created, "redemption_rows": d["redemptions"],
            "redemption_rows_per_voucher_max_1": after["redemptions"] == after["distinct_vouchers"],
            "vouchers_redeemed": d["vouchers_redeemed"], "journal_redemptions": d["journal_redemptions"],
            "prepaid_total": d["prepaid_total"], "face_redeemed": d["face_redeemed"], "zero_double_spends": ok}


def in_process(env: dict[str, str], key: str, items: Path, count: int, profile: str | None,
               first: int = 0) -> dict:
    """CPU per redemption in the API's own code (no HTTP server, no network): Flask's test client.

    The first 50 requests warm up (imports, pool, caches); the next ``count``
    are measured: this process's CPU time, the CPU time of the PostgreSQL
    backends connected to the bench database (/proc, same machine), the SQL
    statements executed (by SQLAlchemy or storage.hot_sql; the pool's ping
    aside) and wall time, each per request.
    """
    import cProfile
    import pstats

    from sqlalchemy import event

    from redeem_api.app import create_app
    from redeem_api.config import ApiConfig
    from vouchers.config import Settings

    app = create_app(ApiConfig.from_settings(Settings.from_env(env), web_passphrase=WEB_PASSPHRASE))
    client = app.test_client()
    lines = items.read_text().splitlines()[first:]
    warmup = 50
    if len(lines) < warmup + count:
        raise SystemExit(f"--codes must be at least {warmup + count}")

    def send(i: int) -> None:
        code, account, terminal_key = lines[i].split()
        r = client.post("/api/v1/redemptions", json={"code": code, "account_no": account},
                        headers={"Authorization": f"Bearer {terminal_key}", "Idempotency-Key": f"inproc-{i}"})
        if r.status_code != 201:
            raise SystemExit(f"request {i}: {r.status_code} {r.get_data(as_text=True)}")

    for i in range(warmup):
        send(i)
    engine = app.extensions["vouchers_redeem_api"].engine
    statements = 0

    def count_statement(*_args: object) -> None:
        nonlocal statements
        statements += 1

    # every statement, SQLAlchemy's and storage.hot_sql's (which calls the same listeners); the pool's ping aside
    event.listen(engine, "before_cursor_execute", count_statement)
    backends = backend_pids(env["VOUCHER_DATABASE_URL"])
    backend0 = _cpu_seconds(backends)
    profiler = cProfile.Profile(time.process_time) if profile else None  # CPU, not wall time
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if profiler is not None:
        profiler.enable()
    for i in range(warmup, warmup + count):
        send(i)
    if profiler is not None:
        profiler.disable()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    backend = _cpu_seconds(backends) - backend0
    event.remove(engine, "before_cursor_execute", count_statement)
    if profiler is not None:
        profiler.dump_stats(profile)
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(40)
    engine.dispose()
    return {"requests": count, "cpu_ms_per_request": round(cpu / count * 1000, 3),
            "postgres_backend_cpu_ms_per_request": round(backend / count * 1000, 3),
            "statements_per_request": round(statements / count, 2),
            "wall_ms_per_request": round(wall / count * 1000, 3), "profiled": bool(profile),
            "load_average": [round(x, 2) for x in os.getloadavg()]}


# -- the anchor: pgbench TPC-B on the same server ---------------------------------------------------------------
def find_pgbench() -> str:
    found = shutil.which("pgbench")
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"), reverse=True):
        return str(candidate)
    raise SystemExit("pgbench is not installed (apt-get install postgresql-client)")


def _libpq(url: str) -> tuple[list[str], dict[str, str]]:
    """pgbench's connection options (and PGPASSWORD) for a SQLAlchemy URL."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    opts = ["-h", u.host or "127.0.0.1", "-p", str(u.port or 5432), "-U", u.username or "postgres"]
    return opts, ({"PGPASSWORD": u.password} if u.password else {})


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def run_pgbench(args, admin_url: str, work: Path) -> dict:
    """TPC-B (pgbench's built-in script), scale ``--pgbench-scale``, the same connections and threads as wrk.

    Its own database on the same server, ``synchronous_commit = on`` for its sessions; every transaction is
    logged (``-l``) for p50/p99. CPU of its backends and of the pgbench client is read from /proc between 2 s
    after the start and 1 s before the end, and divided by the transactions logged in that window."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    pgbench = find_pgbench()
    name = f"voucher_bench_pgbench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    opts, penv = _libpq(admin_url)
    env = {**os.environ, **penv, "PGOPTIONS": "-c synchronous_commit=on"}
    logdir = work / "pgbench"
    logdir.mkdir()
    try:
        t0 = time.perf_counter()
        subprocess.run([pgbench, *opts, "-i", "-q", "-s", str(args.pgbench_scale), name], env=env, check=True,
                       capture_output=True, text=True)
        print(f"pgbench: initialised scale {args.pgbench_scale} in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
        db_url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        proc = subprocess.Popen([pgbench, *opts, "-c", str(args.connections), "-j", str(args.wrk_threads),
                                 "-T", str(args.duration), "-n", "-l", "--log-prefix", str(logdir / "tx"), name],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(2)
        backends = backend_pids(db_url)
        window0 = time.time()
        cpu0 = _cpu_seconds(backends), _cpu_seconds([proc.pid])
        time.sleep(max(1.0, args.duration - 3))
        window1 = time.time()
        cpu1 = _cpu_seconds(backends), _cpu_seconds([proc.pid])
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"pgbench failed: {err}")
        latencies, in_window = [], 0
        for log in logdir.glob("tx*"):
            with log.open() as f:
                for line in f:  # client_id transaction_no time_us script_no epoch_s epoch_us
                    parts = line.split()
                    latencies.append(int(parts[2]) / 1000)
                    if window0 <= int(parts[4]) + int(parts[5]) / 1e6 < window1:
                        in_window += 1
        tps = float(re.search(r"^tps = ([\d.]+)", out, re.M).group(1))
        n = in_window or 1
        return {"tps": tps, "transactions": len(latencies), "p50_ms": round(_percentile(latencies, 50), 2),
                "p99_ms": round(_percentile(latencies, 99), 2), "scale": args.pgbench_scale,
                "postgres_backend_cpu_ms_per_transaction": round((cpu1[0] - cpu0[0]) / n * 1000, 3),
                "pgbench_client_cpu_ms_per_transaction": round((cpu1[1] - cpu0[1]) / n * 1000, 3),
                "statements_per_transaction": 7,  # BEGIN, 3 UPDATEs, SELECT, INSERT, END (the TPC-B script)
                "command": f"pgbench -c {args.connections} -j {args.wrk_threads} -T {args.duration} -n "
                           f"(scale {args.pgbench_scale}, synchronous_commit=on)"}
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# -- the large data size: history written with COPY ---------------------------------------------------------------
SIZES = {"small": (0, 0), "1m": (1_000_000, 2_500_000), "20m": (20_000_000, 50_000_000)}


def _copy(cur, sql: str, rows, chunk: int = 200_000) -> None:
    """COPY ... FROM STDIN in text format, ``rows`` an iterator of tab-separated lines."""
    with cur.copy(sql) as copy:
        buffer = []
        for line in rows:
            buffer.append(line)
            if len(buffer) >= chunk:
                copy.write("".join(buffer))
                buffer.clear()
        if buffer:
            copy.write("".join(buffer))


def fill_history(db_url: str, issued: int, postings: int) -> dict:
    """``issued`` more vouchers in the bench batch (half redeemed, 40 % active, 10 % expired; random code
    hashes nobody holds), ``postings`` / 2 journal transactions of two postings (liability -> a customer's
    prepaid, as a redemption books them, balances updated to match), and for every redeemed filler voucher that
    has a transaction its ``redemptions`` row and audit event: what years of redemptions leave in the tables
    and indexes the hot path touches. Written with COPY, the tables' triggers off for the session (the rows are
    consistent by construction), then VACUUM ANALYZE."""
    import psycopg
    from sqlalchemy.engine import make_url

    conninfo = make_url(db_url).set(drivername="postgresql").render_as_string(hide_password=False)
    t0 = time.perf_counter()
    transactions = postings // 2
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        cur.execute("SET session_replication_role = replica")
        cur.execute("SELECT id, face_value, currency, expires FROM batches ORDER BY id LIMIT 1")
        batch_pk, face, currency, expires = cur.fetchone()
        cur.execute("SELECT coalesce(max(sequence), 0) FROM vouchers")
        seq0 = cur.fetchone()[0]
        cur.execute("SELECT coalesce(max(id), 0) FROM vouchers")
        vid0 = cur.fetchone()[0] + 1
        cur.execute("SELECT id FROM ledger_accounts WHERE code = 'voucher_liability' AND currency = %s", (currency,))
        liability = cur.fetchone()[0]
        cur.execute("SELECT account_no, prepaid_account_id FROM customer_accounts ORDER BY id")
        customers = cur.fetchall()
        old = "2020-01-01 00:00:00+00"
        statuses = ("redeemed",) * 5 + ("active",) * 4 + ("expired",)

        def vouchers():
            for i in range(issued):
                status = statuses[i % 10]
                yield (f"{vid0 + i}\tF{i:015d}\t{batch_pk}\t{seq0 + 1 + i}\t\\\\x{os.urandom(32).hex()}\t{face}\t"
                       f"{currency}\t{expires}\t{status}\tbench-fill\t{old}\t"
                       f"{old if status == 'redeemed' else chr(92) + 'N'}\t"
                       f"{old if status == 'expired' else chr(92) + 'N'}\t{old}\n")

        _copy(cur, "COPY vouchers (id, serial, batch_pk, sequence, code_hash, face_value, currency, expires, status, "
                   "distributor_id, activated_at, redeemed_at, expired_at, updated_at) FROM STDIN", vouchers())
        cur.execute("SELECT coalesce(max(id), 0) FROM ledger_transactions")
        tid0 = cur.fetchone()[0] + 1
        _copy(cur, "COPY ledger_transactions (id, kind, source, external_ref, occurred_at, posted_at, actor) "
                   "FROM STDIN",
              (f"{tid0 + t}\tredemption\tbench-fill\tfill-{t}\t{old}\t{old}\tbench-fill\n"
               for t in range(transactions)))
        _copy(cur, "COPY ledger_postings (transaction_id, line, account_id, currency, amount) FROM STDIN",
              (f"{tid0 + t}\t1\t{liability}\t{currency}\t{face}\n{tid0 + t}\t2\t"
               f"{customers[t % len(customers)][1]}\t{currency}\t{-face}\n" for t in range(transactions)))
        per_customer = [transactions // len(customers) + (1 if k < transactions % len(customers) else 0)
                        for k in range(len(customers))]
        cur.execute("UPDATE ledger_accounts SET balance = balance + %s WHERE id = %s", (face * transactions, liability))
        cur.executemany("UPDATE ledger_accounts SET balance = balance - %s WHERE id = %s",
                        [(face * n, acct) for (_, acct), n in zip(customers, per_customer) if n])
        n_redeemed = min(transactions, sum(1 for i in range(min(issued, 10)) if statuses[i] == "redeemed")
                         * (issued // 10) + sum(1 for i in range(issued % 10) if statuses[i] == "redeemed"))

        def redeemed():  # the filler vouchers marked redeemed, in order (a generator: 10M at the 20m size)
            return itertools.islice((j for base in range(0, issued, 10) for j in range(base, min(base + 5, issued))),
                                    n_redeemed)
        cur.execute("SELECT coalesce(max(id), 0) FROM redemptions")
        rid0 = cur.fetchone()[0] + 1
        _copy(cur, "COPY redemptions (id, redemption_id, voucher_id, serial, account_no, amount, currency, "
                   "applied_to_arrears, credited_to_balance, balance_after, channel, ledger_transaction_id, "
                   "redeemed_at) FROM STDIN",
              (f"{rid0 + t}\trdm_fill{t:016x}\t{vid0 + i}\tF{i:015d}\t{customers[t % len(customers)][0]}\t{face}\t"
               f"{currency}\t0\t{face}\t0\tterminal\t{tid0 + t}\t{old}\n" for t, i in enumerate(redeemed())))
        _copy(cur, "COPY audit_events (at, actor, action, subject_type, subject_id, from_state, to_state, prev_hash, "
                   "hash) FROM STDIN",
              (f"{old}\tbench-fill\tvoucher.redeem\tvoucher\tF{i:015d}\tactive\tredeemed\t{t:064x}\t{t + 1:064x}\n"
               for t, i in enumerate(redeemed())))
        for table in ("vouchers", "ledger_transactions", "redemptions", "audit_events"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        conn.commit()
        copied = time.perf_counter() - t0
        conn.autocommit = True
        for table in ("vouchers", "ledger_transactions", "ledger_postings", "redemptions", "audit_events",
                      "ledger_accounts"):
            cur.execute(f"VACUUM (ANALYZE) {table}")
        cur.execute("SELECT pg_database_size(current_database())")
        size = cur.fetchone()[0]
    result = {"issued_vouchers": issued, "postings": transactions * 2, "redemption_rows": n_redeemed,
              "copy_seconds": round(copied, 1), "vacuum_seconds": round(time.perf_counter() - t0 - copied, 1),
              "database_mb": round(size / 2**20)}
    print(f"history: {result}", file=sys.stderr)
    return result


# -- what the database did ------------------------------------------------------------------------------------------
_DB_COUNTERS = ("xact_commit", "xact_rollback", "tup_returned", "tup_fetched", "tup_inserted", "tup_updated",
                "tup_deleted", "blks_read", "blks_hit")


def db_counters(db_url: str) -> dict[str, int]:
    """pg_stat_database of the bench database (read after its backends exited: they flush at exit)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    engine = create_engine(make_url(db_url).set(database="postgres"))
    try:
        with engine.connect() as c:
            row = c.execute(text(f"SELECT {', '.join(_DB_COUNTERS)} FROM pg_stat_database WHERE datname = :d"),
                            {"d": make_url(db_url).database}).one()
            return dict(zip(_DB_COUNTERS, row))
    finally:
        engine.dispose()


def books(db_url: str) -> dict[str, int]:
    """The figures :func:`verify` compares before and after the load."""
    from sqlalchemy import text

    from vouchers.storage.db import make_engine

    engine = make_engine(db_url)
    with engine.connect() as c:
        row = c.execute(text(
            "SELECT (SELECT count(*) FROM redemptions), (SELECT count(DISTINCT voucher_id) FROM redemptions), "
            "(SELECT count(*) FROM vouchers WHERE status = 'redeemed'), "
            "(SELECT count(*) FROM ledger_transactions WHERE kind = 'redemption'), "
            "(SELECT -coalesce(sum(balance), 0) FROM ledger_accounts WHERE code LIKE 'customer_prepaid:%'), "
            "(SELECT coalesce(sum(face_value), 0) FROM vouchers WHERE status = 'redeemed')")).one()
    engine.dispose()
    return dict(zip(("redemptions", "distinct_vouchers", "vouchers_redeemed", "journal_redemptions",
                     "prepaid_total", "face_redeemed"), (int(x) for x in row)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg-url", default=os.environ.get("VOUCHER_BENCH_PG_URL",
                                                           "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--codes", type=int, default=30_000)
    parser.add_argument("--accounts", type=int, default=4_000,
                        help="customer accounts, used in turn (the fraud rules alert past 5 cards a day on one)")
    parser.add_argument("--terminals", type=int, default=256, help="terminal API keys, used in turn")
    parser.add_argument("--age-days", type=int, default=30,
                        help="the batch, accounts and terminals were made this many days ago")
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: one per core)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--keep", action="store_true", help="keep the database and VOUCHER_HOME")
    parser.add_argument("--serve-echo", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--in-process", type=int, default=None, metavar="N",
                        help="no server, no wrk: N redemptions through Flask's test client in this process; "
                             "prints the process CPU time per redemption")
    parser.add_argument("--fraud-off", action="store_true",
                        help="in process: run with the inline fraud rules off (VOUCHER_FRAUD_ENABLED=0), the "
                             "'before' of their CPU cost")
    parser.add_argument("--fraud-env", action="append", default=[], metavar="NAME=VALUE",
                        help="in process: a fraud setting, e.g. terminal_per_hour=100000 (VOUCHER_FRAUD_<NAME>)")
    parser.add_argument("--profile", default=None, metavar="FILE",
                        help="with --in-process: write a cProfile of the measured requests to FILE")
    parser.add_argument("--size", choices=sorted(SIZES), default="small",
                        help="history loaded with COPY before the load: small (none), 1m (1,000,000 issued "
                             "vouchers, 2,500,000 postings), 20m (20,000,000 and 50,000,000)")
    parser.add_argument("--issued", type=int, default=None, help="issued vouchers of history (overrides --size)")
    parser.add_argument("--postings", type=int, default=None, help="postings of history (overrides --size)")
    parser.add_argument("--pgbench-scale", type=int, default=10)
    parser.add_argument("--no-pgbench", action="store_true", help="skip the pgbench anchor")
    parser.add_argument("--echo", action="store_true", help="also load a bare Flask JSON echo (the old anchor)")
    parser.add_argument("--key-cache", type=int, default=0, metavar="SECONDS",
                        help="VOUCHER_API_KEY_CACHE_SECONDS for the server (and --in-process): 0 = off, the default")
    parser.add_argument("--statements", type=int, default=200, metavar="N",
                        help="after the load: N more redemptions in process, counting SQL statements (0: none)")
    args = parser.parse_args()

    from voucherctl.serve_cmd import default_workers, gunicorn_options, run_gunicorn

    workers = args.workers or default_workers()
    if args.serve_echo is not None:  # child process: the echo server
        run_gunicorn(echo_app, gunicorn_options("127.0.0.1", args.serve_echo, workers, args.threads, 30, False))
        return 0
    if args.in_process is None and shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
    name = f"voucher_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    db_url = make_url(args.pg_url).set(database=name).render_as_string(hide_password=False)
    home = Path(tempfile.mkdtemp(prefix="voucher-bench-"))
    procs: list[subprocess.Popen] = []
    load_before = os.getloadavg()  # the machine is shared: say how busy it was
    try:
        key, items = prepare(args, home, db_url)
        if args.in_process is not None:
            env = {k: v for k, v in os.environ.items() if not k.startswith("VOUCHER_")}
            env.update(VOUCHER_HOME=str(home), VOUCHER_DATABASE_URL=db_url, VOUCHER_WEB_PASSPHRASE=WEB_PASSPHRASE,
                       VOUCHER_API_KEY_CACHE_SECONDS=str(args.key_cache))
            if args.fraud_off:
                env["VOUCHER_FRAUD_ENABLED"] = "0"
            for item in args.fraud_env:
                name, _, value = item.partition("=")
                env[f"VOUCHER_FRAUD_{name.upper()}"] = value
            print(json.dumps(in_process(env, key, items, args.in_process, args.profile), indent=2))
            return 0
        issued, postings = SIZES[args.size]
        issued = args.issued if args.issued is not None else issued
        postings = args.postings if args.postings is not None else postings
        history = fill_history(db_url, issued, postings) if issued or postings else None
        lines = items.read_text().splitlines()
        reserve = args.statements + 50 if args.statements else 0  # the in-process pass's own fresh codes
        wrk_items = home / "wrk-items.txt"
        wrk_items.write_text("".join(f"{line}\n" for line in lines[:len(lines) - reserve]))
        os.chmod(wrk_items, 0o600)
        results: dict[str, dict] = {}
        if not args.no_pgbench:
            results["pgbench"] = run_pgbench(args, args.pg_url, home)
            pg = results["pgbench"]
            print(f"pgbench: {pg['tps']:.0f} tps, p50 {pg['p50_ms']} ms, p99 {pg['p99_ms']} ms, PostgreSQL CPU "
                  f"{pg['postgres_backend_cpu_ms_per_transaction']} ms/transaction", file=sys.stderr)
        lua = home / "redeem.lua"
        lua.write_text(LUA)
        env = {k: v for k, v in os.environ.items() if not k.startswith("VOUCHER_")}
        env.update(VOUCHER_HOME=str(home), VOUCHER_DATABASE_URL=db_url, VOUCHER_WEB_PASSPHRASE=WEB_PASSPHRASE,
                   VOUCHER_DB_POOL_SIZE=str(args.threads + 1), VOUCHER_API_KEY_CACHE_SECONDS=str(args.key_cache))
        before = books(db_url)
        for mode in (("echo", "redeem") if args.echo else ("redeem",)):
            port = free_port()
            if mode == "echo":
                cmd = [sys.executable, __file__, "--serve-echo", str(port), "--workers", str(workers),
                       "--threads", str(args.threads)]
            else:
                cmd = [sys.executable, "-c", BOOT, "serve", "--port", str(port), "--workers", str(workers),
                       "--threads", str(args.threads)]
            proc = subprocess.Popen(cmd, env=env, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL,
                                    stderr=open(home / f"{mode}.log", "wb"))
            procs.append(proc)
            url = f"http://127.0.0.1:{port}"
            wait_up(url, proc)
            pids = server_pids(proc.pid)
            if mode == "redeem":
                time.sleep(1.5)  # the workers' start-up transactions are flushed to pg_stat_database by then
                counters0 = db_counters(db_url)
            backends = backend_pids(db_url) if mode == "redeem" else []
            cpu_before = _cpu_seconds(pids), _cpu_seconds(backends)
            results[mode] = run_wrk(url, lua, wrk_items, mode, key, args)
            if mode == "redeem":  # the pool may have grown during the run: count its new backends from 0
                backends += [pid for pid in backend_pids(db_url) if pid not in backends]
            cpu = _cpu_seconds(pids) - cpu_before[0], _cpu_seconds(backends) - cpu_before[1]
            answered = sum(results[mode]["statuses"].values()) or 1
            results[mode]["server_cpu_ms_per_request"] = round(cpu[0] / answered * 1000, 3)
            if mode == "redeem":
                results[mode]["postgres_backend_cpu_ms_per_request"] = round(cpu[1] / answered * 1000, 3)
            stop(proc)
            print(f"{mode}: {results[mode]['requests_per_second']:.0f} req/s, p50 {results[mode]['p50_ms']:.1f} ms, "
                  f"p99 {results[mode]['p99_ms']:.1f} ms, statuses {results[mode]['statuses']}, "
                  f"server CPU {results[mode]['server_cpu_ms_per_request']} ms/request", file=sys.stderr)
        time.sleep(1.5)  # the server's backends flush their statistics as they exit
        counters1 = db_counters(db_url)
        redeem = results["redeem"]
        created = redeem["statuses"].get(201, 0)
        check = verify(before, books(db_url), created, args.connections)
        n = check["redemption_rows"] or 1
        redeem["database_per_redemption"] = {k: round((counters1[k] - counters0[k]) / n, 2) for k in _DB_COUNTERS}
        if args.statements:
            redeem["in_process"] = in_process({**env, "VOUCHER_DB_POOL_SIZE": "2"}, key, items, args.statements,
                                              None, first=len(lines) - reserve)
            redeem["statements_per_redemption"] = redeem["in_process"]["statements_per_request"]
        summary = {
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="minutes"),
            "command": " ".join(["bench/bench_redeem.py", *sys.argv[1:]]),
            "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                        "load_average_before": [round(x, 2) for x in load_before],
                        "load_average_after": [round(x, 2) for x in os.getloadavg()]},
            "server": {"workers": workers, "threads": args.threads, "worker_class": "gthread" if args.threads > 1
                       else "sync", "api_key_cache_seconds": args.key_cache},
            "load": {"tool": "wrk", "connections": args.connections, "wrk_threads": args.wrk_threads,
                     "duration_s": args.duration},
            "history": history,
            "pgbench": results.get("pgbench"),
            "redeem": {k: v for k, v in redeem.items() if k != "raw"},
            "books": check,
        }
        if "pgbench" in results:
            summary["ratio_to_pgbench"] = round(redeem["requests_per_second"] / results["pgbench"]["tps"], 3)
        if "echo" in results:
            summary["echo"] = {k: v for k, v in results["echo"].items() if k not in ("raw", "exhausted")}
            summary["ratio_to_echo"] = round(redeem["requests_per_second"] / results["echo"]["requests_per_second"], 3)
        print(json.dumps(summary, indent=2, default=str))
        r = redeem
        table = ("\n| run | tx/s | p50 ms | p99 ms | app CPU ms/tx | PostgreSQL CPU ms/tx | statements/tx |\n"
                 "| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n"
                 f"| redemption (201s: {created}) | {r['requests_per_second']:.0f} | {r['p50_ms']:.1f} | "
                 f"{r['p99_ms']:.1f} | {r['server_cpu_ms_per_request']} | {r['postgres_backend_cpu_ms_per_request']} | "
                 f"{r.get('statements_per_redemption', '-')} |\n")
        if "pgbench" in results:
            pg = results["pgbench"]
            table += (f"| pgbench TPC-B | {pg['tps']:.0f} | {pg['p50_ms']:.1f} | {pg['p99_ms']:.1f} | "
                      f"{pg['pgbench_client_cpu_ms_per_transaction']} (client) | "
                      f"{pg['postgres_backend_cpu_ms_per_transaction']} | 7 |\n"
                      f"\nratio {summary['ratio_to_pgbench']}")
        print(table, file=sys.stderr)
        return 0 if check["zero_double_spends"] and not redeem["exhausted"] else 1
    finally:
        for proc in procs:
            stop(proc)
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    sys.exit(main())
