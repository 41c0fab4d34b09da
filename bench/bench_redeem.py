"""Redemption throughput and latency against ``voucherctl serve`` on PostgreSQL, with wrk.

Every request redeems a fresh, valid code onto one of many accounts; in the
same run a bare Flask JSON echo route is served with the same gunicorn
settings and loaded the same way, as the ceiling to compare with. Afterwards
the books are checked: zero double spends.

    .venv/bin/python bench/bench_redeem.py --codes 30000 --accounts 2000 --duration 15

Needs: PostgreSQL (``--pg-url``, an admin URL; a throw-away database is
created and dropped), Debian ``wrk``. Prints a JSON summary and a Markdown
table for docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import datetime as dt
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
  local code, acct = line:match("(%S+) (%S+)")
  local body = '{"code":"' .. code .. '","account_no":"' .. acct .. '"}'
  local path = "/api/v1/redemptions"
  if mode == "echo" then path = "/echo" end
  return wrk.format("POST", path, {["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. key, ["Idempotency-Key"] = "bench-" .. tid .. "-" .. idx}, body)
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
    """Schema, keys, one batch (activated), accounts, a terminal client; returns (api key, items file)."""
    from issuer.batches import BatchRequest, approve_batch, create_batch
    from issuer.cardstore import card_file_path, read_cards
    from issuer.signing_keys import create_key
    from vouchers.keystore.store import KeyStore
    from vouchers.books.customers import create_customer
    from vouchers.books.voucher_books import activate
    from vouchers.services.clients import create_client
    from vouchers.storage.db import make_engine, session_factory
    from vouchers.storage.migrate import upgrade_to_head

    now = dt.datetime.now(dt.timezone.utc)
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
        _, key = create_client(s, name="bench terminal", role="terminal", now=now)
    print(f"prepared {args.codes} codes and {args.accounts} accounts in {time.perf_counter() - t0:.1f}s",
          file=sys.stderr)
    items = home / "items.txt"
    with items.open("w") as f:
        for i, card in enumerate(read_cards(card_file_path(home, summary.batch_id),
                                            store.cardstore_identity(PASSPHRASE))):
            f.write(f"{card.code} 88{i % args.accounts:08d}\n")
    os.chmod(items, 0o600)
    engine.dispose()
    return key, items


def verify(db_url: str, created: int, connections: int) -> dict:
    """Zero double spends: one redemption, one journal transaction, one status change per card.

    wrk stops with up to ``connections`` requests still in flight; the server
    finishes them, so a few more cards may be redeemed than 201s were counted.
    """
    from sqlalchemy import func, select, text

    from vouchers.storage.api_models import Redemption
    from vouchers.storage.db import make_engine
    from vouchers.storage.ledger_models import LedgerAccount, LedgerTransaction
    from vouchers.storage.models import Voucher

    engine = make_engine(db_url)
    with engine.connect() as c:
        redemptions = c.execute(select(func.count()).select_from(Redemption)).scalar_one()
        distinct = c.execute(select(func.count(func.distinct(Redemption.voucher_id)))).scalar_one()
        redeemed = c.execute(select(func.count()).select_from(Voucher).where(Voucher.status == "redeemed")).scalar_one()
        journal = c.execute(select(func.count()).select_from(LedgerTransaction)
                            .where(LedgerTransaction.kind == "redemption")).scalar_one()
        prepaid = -c.execute(select(func.coalesce(func.sum(LedgerAccount.balance), 0))
                             .where(LedgerAccount.code.like("customer_prepaid:%"))).scalar_one()
        face = c.execute(text("SELECT coalesce(sum(face_value), 0) FROM vouchers "
                              "WHERE status = 'redeemed'")).scalar_one()
    engine.dispose()
    ok = (redemptions == distinct == redeemed == journal and prepaid == face
          and created <= redemptions <= created + connections)
    return {"created_201": created, "redemption_rows": redemptions, "distinct_vouchers": distinct,
            "vouchers_redeemed": redeemed, "journal_redemptions": journal, "prepaid_total": prepaid,
            "face_redeemed": face, "zero_double_spends": ok}


def in_process(env: dict[str, str], key: str, items: Path, count: int, profile: str | None) -> dict:
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
    lines = items.read_text().splitlines()
    warmup = 50
    if len(lines) < warmup + count:
        raise SystemExit(f"--codes must be at least {warmup + count}")

    def send(i: int) -> None:
        code, account = lines[i].split()
        r = client.post("/api/v1/redemptions", json={"code": code, "account_no": account},
                        headers={"Authorization": f"Bearer {key}", "Idempotency-Key": f"inproc-{i}"})
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg-url", default=os.environ.get("VOUCHER_BENCH_PG_URL",
                                                           "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--codes", type=int, default=30_000)
    parser.add_argument("--accounts", type=int, default=2_000)
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
            env.update(VOUCHER_HOME=str(home), VOUCHER_DATABASE_URL=db_url, VOUCHER_WEB_PASSPHRASE=WEB_PASSPHRASE)
            if args.fraud_off:
                env["VOUCHER_FRAUD_ENABLED"] = "0"
            for item in args.fraud_env:
                name, _, value = item.partition("=")
                env[f"VOUCHER_FRAUD_{name.upper()}"] = value
            print(json.dumps(in_process(env, key, items, args.in_process, args.profile), indent=2))
            return 0
        lua = home / "redeem.lua"
        lua.write_text(LUA)
        env = {k: v for k, v in os.environ.items() if not k.startswith("VOUCHER_")}
        env.update(VOUCHER_HOME=str(home), VOUCHER_DATABASE_URL=db_url, VOUCHER_WEB_PASSPHRASE=WEB_PASSPHRASE,
                   VOUCHER_DB_POOL_SIZE=str(args.threads + 1))
        results = {}
        for mode in ("echo", "redeem"):
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
            backends = backend_pids(db_url) if mode == "redeem" else []
            cpu_before = _cpu_seconds(pids), _cpu_seconds(backends)
            results[mode] = run_wrk(url, lua, items, mode, key, args)
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
        created = results["redeem"]["statuses"].get(201, 0)
        check = verify(db_url, created, args.connections)
        summary = {
            "date": dt.date.today().isoformat(),
            "command": " ".join(["bench/bench_redeem.py", *sys.argv[1:]]),
            "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                        "load_average_before": [round(x, 2) for x in load_before],
                        "load_average_after": [round(x, 2) for x in os.getloadavg()]},
            "server": {"workers": workers, "threads": args.threads, "worker_class": "gthread" if args.threads > 1
                       else "sync"},
            "load": {"tool": "wrk", "connections": args.connections, "wrk_threads": args.wrk_threads,
                     "duration_s": args.duration},
            "echo": {k: v for k, v in results["echo"].items() if k not in ("raw", "exhausted")},
            "redeem": {k: v for k, v in results["redeem"].items() if k != "raw"},
            "ratio_to_echo": round(results["redeem"]["requests_per_second"]
                                   / results["echo"]["requests_per_second"], 3),
            "books": check,
        }
        print(json.dumps(summary, indent=2, default=str))
        r, e = summary["redeem"], summary["echo"]
        print(f"\n| run | req/s | p50 ms | p99 ms |\n| --- | ---: | ---: | ---: |\n"
              f"| redemption (201s: {created}) | {r['requests_per_second']:.0f} | {r['p50_ms']:.1f} | "
              f"{r['p99_ms']:.1f} |\n| Flask JSON echo | {e['requests_per_second']:.0f} | {e['p50_ms']:.1f} | "
              f"{e['p99_ms']:.1f} |", file=sys.stderr)
        return 0 if check["zero_double_spends"] and not results["redeem"]["exhausted"] else 1
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
