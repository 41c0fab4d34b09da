"""Batch issuance throughput vs the raw rate of its cryptographic primitives.

    .venv/bin/python bench/bench_issuance.py --counts 100000 1000000 --repeat 3

(PostgreSQL by default; ``--databases sqlite postgresql`` adds SQLite.)

For each (count, database) a fresh subprocess creates one batch end to end
(key store unlock, generation, signing, COPY/executemany, sealed card file,
commit) and reports vouchers/s and its peak RSS (its own and its worker
processes'). Around it, in the same run, the baseline is measured twice, right
before and right after, with the SAME number of vouchers on the SAME cores:
secrets + HMAC-SHA256 + libsodium Ed25519 sign (pynacl's ``crypto_sign``, the
fastest call it offers) of a 104-byte message (the size of the real COSE
Sig_structure) in a tight loop, one process per core. The ratio is
end-to-end / mean(before, after).

Both sides use every core this process may run on (``--cpus`` pins all of it,
children included, to a subset; the PostgreSQL server is a separate service
and is not pinned). Besides wall-clock rates it reports the CPU time per
voucher of both sides (end to end: the batch process, its workers and, on
PostgreSQL, the server backends of the benchmark database, read from /proc),
which a shared, noisy machine disturbs much less than wall-clock rates.
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import multiprocessing
import os
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

PG_ADMIN = os.environ.get("VOUCHER_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MESSAGE_PREFIX = b"x" * 85  # + 19 code digits = 104 bytes, the size of the real Sig_structure
_PASSPHRASE = "bench passphrase (not secret)"  # new key stores need 12+ characters
_WEB_PASSPHRASE = "bench web secret (not secret)"


def _raw_worker(n: int) -> tuple[int, float]:
    from nacl.bindings import crypto_sign, crypto_sign_seed_keypair

    _public, secret_key = crypto_sign_seed_keypair(secrets.token_bytes(32))
    # HMAC-SHA256 with the padded-key hashes precomputed, as the generator does (RFC 2104)
    pad = secrets.token_bytes(32).ljust(64, b"\x00")
    inner_key = hashlib.sha256(bytes(b ^ 0x36 for b in pad))
    outer_key = hashlib.sha256(bytes(b ^ 0x5C for b in pad))
    start = time.process_time()
    for _ in range(n):
        code = f"{secrets.randbelow(10**19):019d}".encode()
        inner = inner_key.copy()
        inner.update(code)
        outer = outer_key.copy()
        outer.update(inner.digest())
        outer.digest()
        crypto_sign(MESSAGE_PREFIX + code, secret_key)[:64]  # libsodium (pynacl): signature + message
    return n, time.process_time() - start


def raw_rate(total: int, workers: int) -> tuple[float, float]:
    """(vouchers/s, CPU microseconds per voucher) of the primitives alone on ``workers`` processes."""
    per = -(-total // workers)
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        pool.map(_raw_worker, [1000] * workers)  # warm up
        start = time.perf_counter()
        results = pool.map(_raw_worker, [per] * workers)
        elapsed = time.perf_counter() - start
    done = sum(n for n, _ in results)
    return done / elapsed, sum(cpu for _, cpu in results) / done * 1e6


def _server_ticks(engine) -> dict[int, int] | None:
    """CPU clock ticks of each PostgreSQL backend serving this database (a local server), or None."""
    if engine.dialect.name != "postgresql":
        return None
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    probe = create_engine(engine.url, poolclass=NullPool)  # not the batch's own pooled connection
    with probe.connect() as conn:
        pids = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                 "AND pid <> pg_backend_pid()")).scalars().all()
    ticks = {}
    for pid in pids:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            return None  # not a local server (or not ours to read)
        ticks[pid] = int(fields[11]) + int(fields[12])  # utime + stime
    return ticks


def _one_batch(count: int, url: str, home: str, workers: int) -> None:
    """Runs inside a fresh interpreter; prints one JSON line."""
    from issuer.batches import BatchRequest, create_batch
    from issuer.signing_keys import create_key
    from vouchers.keystore.store import KeyStore
    from vouchers.storage.db import make_engine, session_factory
    from vouchers.storage.migrate import upgrade_to_head

    now = dt.datetime.now(dt.timezone.utc)
    engine = make_engine(url)
    upgrade_to_head(engine)
    store = KeyStore(home)
    store.initialise(_PASSPHRASE, _WEB_PASSPHRASE)
    create_key(store, _PASSPHRASE, now)
    request = BatchRequest(10000, count, dt.date(now.year + 2, 1, 1), "CNY", "bench")
    server_before = _server_ticks(engine)
    before = os.times()
    start = time.perf_counter()
    create_batch(session_factory(engine), store, _PASSPHRASE, request, web_passphrase=_WEB_PASSPHRASE, now=now,
                 today=now.date(), issuer_code=1, max_count=10_000_000, workers=workers)
    elapsed = time.perf_counter() - start
    after = os.times()
    cpu = sum(after[:4]) - sum(before[:4])  # user + system, this process and its (joined) workers
    server_after = _server_ticks(engine)
    server_cpu = None  # the PostgreSQL backends of this database (the batch's pooled connection stays open)
    if server_before is not None and server_after is not None:
        hz = os.sysconf("SC_CLK_TCK")
        server_cpu = sum(t - server_before.get(pid, 0) for pid, t in server_after.items()) / hz
    rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    print(json.dumps({"count": count, "seconds": elapsed, "rate": count / elapsed, "peak_rss_mb": rss / 1024,
                      "cpu_us": cpu / count * 1e6,
                      "server_cpu_us": None if server_cpu is None else server_cpu / count * 1e6}))


def end_to_end(count: int, database: str, workers: int) -> dict:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    with tempfile.TemporaryDirectory() as tmp:
        name = None
        if database == "sqlite":
            url = f"sqlite:///{tmp}/bench.db"
        else:
            name = f"voucher_bench_{uuid.uuid4().hex[:8]}"
            admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            url = make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
        try:
            out = subprocess.run([sys.executable, __file__, "--child", str(count), url, f"{tmp}/home", str(workers)],
                                 check=True, capture_output=True, text=True).stdout
            return json.loads(out.strip().splitlines()[-1])
        finally:
            if name:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _one_batch(int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--databases", nargs="+", default=["postgresql"], choices=["sqlite", "postgresql"])
    parser.add_argument("--repeat", type=int, default=1, help="runs of every case (the spread is reported)")
    parser.add_argument("--cpus", type=int, nargs="+", help="pin everything (both sides) to these CPUs")
    args = parser.parse_args()
    if args.cpus:
        os.sched_setaffinity(0, args.cpus)
    cores = len(os.sched_getaffinity(0))
    print(f"cores: {cores} {sorted(os.sched_getaffinity(0))}  date: {dt.date.today()}  "
          f"load average: {os.getloadavg()[0]:.1f}")
    ratios: dict[tuple[str, int], list[float]] = {}
    for run in range(1, args.repeat + 1):
        for count in args.counts:
            for database in args.databases:
                # the baseline right before and right after each case: the machine is shared and noisy
                raw_before, raw_cpu_before = raw_rate(count, cores)
                result = end_to_end(count, database, cores)
                raw_after, raw_cpu_after = raw_rate(count, cores)
                baseline, raw_cpu = (raw_before + raw_after) / 2, (raw_cpu_before + raw_cpu_after) / 2
                ratio = result["rate"] / baseline
                cpu = result["cpu_us"] + (result["server_cpu_us"] or 0)
                server = (f" + {result['server_cpu_us']:.0f} us server" if result["server_cpu_us"] is not None
                          else "")
                ratios.setdefault((database, count), []).append(ratio)
                print(f"run {run} {database:<10} {count:>9,} vouchers: {result['rate']:>7,.0f}/s "
                      f"({result['seconds']:.1f} s) peak RSS {result['peak_rss_mb']:.0f} MB | raw {raw_before:,.0f}/s "
                      f"before, {raw_after:,.0f}/s after | ratio {ratio:.2f} | CPU/voucher {result['cpu_us']:.0f} us{server} "
                      f"vs raw {raw_cpu:.0f} us (cost ratio {raw_cpu / cpu:.2f}) | "
                      f"load {os.getloadavg()[0]:.1f}", flush=True)
    if args.repeat > 1:
        for (database, count), values in ratios.items():
            print(f"{database:<10} {count:>9,}: ratio min {min(values):.2f} median {statistics.median(values):.2f} "
                  f"max {max(values):.2f} over {len(values)} runs")


if __name__ == "__main__":
    main()
