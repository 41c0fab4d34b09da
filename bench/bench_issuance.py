"""Batch issuance throughput vs the raw rate of its cryptographic primitives.

    .venv/bin/python bench/bench_issuance.py --counts 100000 1000000 --databases sqlite postgresql

For each (count, database) a fresh subprocess creates one batch end to end
(generation, signing, COPY/executemany, sealed card file) and reports
vouchers/s and its peak RSS (its own and its worker processes'). In the same
run the baseline is measured: secrets + HMAC-SHA256 + Ed25519 sign in a tight
loop on every core. Prints a ratio end-to-end / raw for each case.
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import hmac
import json
import multiprocessing
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
import uuid

PG_ADMIN = os.environ.get("VOUCHER_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _raw_worker(n: int) -> int:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    pepper = secrets.token_bytes(32)
    message = b"x" * 120  # about the size of the COSE Sig_structure we sign
    for _ in range(n):
        code = f"{secrets.randbelow(10**19):019d}"
        hmac.new(pepper, code.encode(), hashlib.sha256).digest()
        key.sign(message + code.encode())
    return n


def raw_rate(total: int) -> float:
    workers = os.cpu_count() or 1
    per = total // workers
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        pool.map(_raw_worker, [1000] * workers)  # warm up
        start = time.perf_counter()
        pool.map(_raw_worker, [per] * workers)
        elapsed = time.perf_counter() - start
    return per * workers / elapsed


def _one_batch(count: int, url: str, home: str) -> None:
    """Runs inside a fresh interpreter; prints one JSON line."""
    from issuer.batches import BatchRequest, create_batch
    from issuer.signing_keys import create_key
    from keystore.store import KeyStore
    from storage.db import make_engine, session_factory
    from storage.migrate import upgrade_to_head

    now = dt.datetime.now(dt.timezone.utc)
    engine = make_engine(url)
    upgrade_to_head(engine)
    store = KeyStore(home)
    store.initialise("bench")
    create_key(store, "bench", now)
    request = BatchRequest(10000, count, dt.date(now.year + 2, 1, 1), "CNY", "bench")
    start = time.perf_counter()
    create_batch(session_factory(engine), store, "bench", request, now=now, today=now.date(), issuer_code=1,
                 max_count=10_000_000)
    elapsed = time.perf_counter() - start
    rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    print(json.dumps({"count": count, "seconds": elapsed, "rate": count / elapsed, "peak_rss_mb": rss / 1024}))


def end_to_end(count: int, database: str) -> dict:
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
            out = subprocess.run([sys.executable, __file__, "--child", str(count), url, f"{tmp}/home"],
                                 check=True, capture_output=True, text=True).stdout
            return json.loads(out.strip().splitlines()[-1])
        finally:
            if name:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _one_batch(int(sys.argv[2]), sys.argv[3], sys.argv[4])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}  date: {dt.date.today()}")
    for count in args.counts:
        for database in args.databases:
            # the baseline right before each run: the machine is shared and noisy
            baseline = raw_rate(min(count, 200_000))
            print(f"raw primitives (secrets+HMAC+Ed25519, all cores): {baseline:,.0f}/s")
            result = end_to_end(count, database)
            print(f"{database:<10} {count:>9,} vouchers: {result['rate']:>9,.0f}/s  "
                  f"({result['seconds']:.1f} s)  peak RSS {result['peak_rss_mb']:.0f} MB  "
                  f"ratio vs raw {result['rate'] / baseline:.2f}")


if __name__ == "__main__":
    main()
