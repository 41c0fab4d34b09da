"""The fraud scan over a million transactions, on SQLite and PostgreSQL, against a bare count of the same rows.

    .venv/bin/python bench/bench_fraud_scan.py --db sqlite                 # 1,000,000 transactions, 30 days
    .venv/bin/python bench/bench_fraud_scan.py --db postgresql --transactions 1000000
    .venv/bin/python bench/bench_fraud_scan.py --db sqlite --without-index   # also time it without 0019's index

Writes, seeded and in time order (as a live system writes them), ``--transactions``
money-in rows over ``--days``: half card redemptions (a card, its redemption
and its payments row, by terminals or the web page), half channel payments,
onto Pareto-skewed accounts. Rows go in by bulk paths, not through the money-in
flow: SQLite executemany in one transaction, PostgreSQL ``COPY``. Then, in one
run: two baselines (``SELECT count(*)`` over the same ``paid_at`` range, and
the scan's own range read fetched with no rule run), the scan's dry run (``voucherctl fraud scan --dry-run``'s function: every rule,
nothing recorded), and with ``--without-index`` the scan again after dropping
``ix_payments_paid_at`` and once more after recreating it (SQLite only).
Prints one JSON object.
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import random
import sys
import tempfile
import time
import uuid
import zoneinfo
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from vouchers.services.fraud_config import FraudConfig  # noqa: E402
from vouchers.services.fraud_scan import money_in_query, scan  # noqa: E402
from vouchers.storage.db import make_engine  # noqa: E402
from vouchers.storage.migrate import upgrade_to_head  # noqa: E402

TZ = zoneinfo.ZoneInfo("Asia/Shanghai")
START = dt.datetime(2026, 3, 2, tzinfo=TZ)  # fixed: no run depends on today
CHANNELS = ("alipay", "wechat_pay", "bank_counter", "counter_cash")
FACES = (5_000, 10_000, 10_000, 20_000)
PG_ADMIN = os.environ.get("VOUCHER_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _rows(rng: random.Random, *, transactions: int, days: int, accounts: int, terminals: int):  # type: ignore[no-untyped-def]
    """Every table's rows as tuples (aware UTC datetimes), in time order."""
    t0 = START.astimezone(dt.timezone.utc)
    span = days * 86_400
    offsets = sorted(rng.random() * span for _ in range(transactions))
    weights = [rng.paretovariate(3.0) for _ in range(accounts)]
    cum, total = [], 0.0
    for w in weights:
        total += w
        cum.append(total)
    import bisect

    out: dict[str, list[tuple]] = {"customer_accounts": [], "api_clients": [], "batches": [], "vouchers": [],
                                   "redemptions": [], "payments": [], "ledger_transactions": []}
    out["ledger_transactions"].append((1, "bench", "bench", "bench", t0, t0, "bench"))
    for i in range(accounts):
        out["customer_accounts"].append((i + 1, f"5{i:09d}", f"bench {i}", "CNY", 0, 0, t0))
    for i in range(terminals):
        out["api_clients"].append((i + 1, f"c_term{i:04d}", f"terminal {i}", "terminal",
                                   hashlib.sha256(str(i).encode()).digest(), False, t0))
    batch_size = 5_000
    voucher = batch = 0
    for n, offset in enumerate(offsets, start=1):
        at = t0 + dt.timedelta(seconds=offset)
        account = bisect.bisect_left(cum, rng.random() * total) + 1
        if rng.random() < 0.5:
            voucher += 1
            sequence = (voucher - 1) % batch_size + 1
            if sequence == 1:
                batch += 1
                out["batches"].append((batch, f"B{batch:06d}", 1, 10_000, "CNY", batch_size, dt.date(2030, 12, 31),
                                       "shipped", "bench", "", "", "0" * 64, "bench", t0))
            serial = f"01{voucher:014d}"
            face = rng.choice(FACES)
            activated = at - dt.timedelta(hours=rng.uniform(2, 24 * 30))
            out["vouchers"].append((voucher, serial, batch, sequence, hashlib.sha256(serial.encode()).digest(),
                                    face, "CNY", dt.date(2030, 12, 31), "redeemed", f"D{voucher % 20:03d}",
                                    activated, at, at))
            local_hour = at.astimezone(TZ).hour
            terminal = rng.randrange(terminals) + 1 if 7 <= local_hour < 22 and rng.random() < 0.8 else None
            out["redemptions"].append((voucher, f"rdm_{n:020d}", voucher, serial, f"5{account - 1:09d}", face, "CNY",
                                       0, face, 0, "terminal" if terminal else "web", terminal, 1, at))
            out["payments"].append((n, "voucher", serial, account, face, "CNY", 0, 0, at, 1, "booked"))
        else:
            amount = rng.choice((2_000, 5_000, 10_000, 20_000, 30_000, 50_000))
            status = "reversed" if rng.random() < 0.005 else "booked"
            out["payments"].append((n, rng.choice(CHANNELS), f"P{n:010d}", account, amount, "CNY", 0, 0, at, 1,
                                    status))
    return out


COLUMNS = {
    "ledger_transactions": "id, kind, source, external_ref, occurred_at, posted_at, actor",
    "customer_accounts": "id, account_no, name, currency, arrears_account_id, prepaid_account_id, created_at",
    "api_clients": "id, client_id, name, role, key_hash, revoked, created_at",
    "batches": "id, batch_id, issuer_code, face_value, currency, count, expires, status, key_id, first_serial, "
               "last_serial, card_data_sha256, created_by, created_at",
    "vouchers": "id, serial, batch_pk, sequence, code_hash, face_value, currency, expires, status, distributor_id, "
                "activated_at, redeemed_at, updated_at",
    "redemptions": "id, redemption_id, voucher_id, serial, account_no, amount, currency, applied_to_arrears, "
                   "credited_to_balance, balance_after, channel, client_pk, ledger_transaction_id, redeemed_at",
    "payments": "id, channel, external_ref, customer_id, amount, currency, applied_to_arrears, balance_after, "
                "paid_at, transaction_id, status",
}
ORDER = ("ledger_transactions", "customer_accounts", "api_clients", "batches", "vouchers", "redemptions", "payments")


def _sqlite_value(v):  # type: ignore[no-untyped-def]
    """What SQLAlchemy's SQLite dialect stores for the project's UTC datetimes (naive UTC text)."""
    if isinstance(v, dt.datetime):
        return v.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(v, dt.date):
        return v.isoformat()
    return v


def _load(engine, rows) -> None:  # type: ignore[no-untyped-def]
    raw = engine.raw_connection()
    try:
        if engine.dialect.name == "sqlite":
            con = raw.driver_connection
            con.execute("PRAGMA foreign_keys=OFF")
            con.execute("PRAGMA synchronous=OFF")
            for table in ORDER:
                cols = COLUMNS[table]
                marks = ", ".join("?" for _ in cols.split(","))
                con.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})",
                                ([_sqlite_value(v) for v in row] for row in rows[table]))
            con.commit()
        else:
            con = raw.driver_connection
            with con.cursor() as cur:
                cur.execute("SET session_replication_role = replica")  # the FK triggers: checked by construction
                for table in ORDER:
                    with cur.copy(f"COPY {table} ({COLUMNS[table]}) FROM STDIN") as copy:
                        for row in rows[table]:
                            copy.write_row(row)
            con.commit()
    finally:
        raw.close()
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))


def _backend_cpu(session_or_conn) -> float | None:  # type: ignore[no-untyped-def]
    """CPU seconds of this connection's PostgreSQL backend (same machine), None if unreadable."""
    try:
        pid = session_or_conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except Exception:  # noqa: BLE001 - not on this machine, or not PostgreSQL
        return None


def _timed_scan(engine, since: dt.datetime, until: dt.datetime) -> dict:  # type: ignore[no-untyped-def]
    """Wall and CPU seconds (this process; plus the PostgreSQL backend's, when readable) of one dry-run scan."""
    with Session(engine) as session:
        pg = engine.dialect.name == "postgresql"
        server0 = _backend_cpu(session) if pg else None
        started, cpu0 = time.perf_counter(), time.process_time()
        result = scan(session, since=since, until=until, cfg=FraudConfig(), tz=TZ, now=until, record=False)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu0
        server1 = _backend_cpu(session) if pg else None
    found = {"wall_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1), "events": result.events,
             "hits": dict(result.hits)}
    if server0 is not None and server1 is not None:
        found["postgresql_backend_cpu_seconds"] = round(server1 - server0, 1)
    return found


def _timed_read(engine, since: dt.datetime, until: dt.datetime) -> dict:  # type: ignore[no-untyped-def]
    """The scan's own range read (same statement, same joins, rows typed and fetched), with no rule run: what
    the scan costs before it decides anything."""
    with Session(engine) as session:
        pg = engine.dialect.name == "postgresql"
        server0 = _backend_cpu(session) if pg else None
        started, cpu0 = time.perf_counter(), time.process_time()
        n = sum(1 for _ in session.execute(money_in_query(since, until).execution_options(yield_per=20_000)))
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu0
        server1 = _backend_cpu(session) if pg else None
    found = {"wall_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1), "rows": n}
    if server0 is not None and server1 is not None:
        found["postgresql_backend_cpu_seconds"] = round(server1 - server0, 1)
    return found


def _timed_count(engine, since: dt.datetime, until: dt.datetime) -> dict:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        pg = engine.dialect.name == "postgresql"
        server0 = _backend_cpu(conn) if pg else None
        started, cpu0 = time.perf_counter(), time.process_time()
        found = conn.execute(text("SELECT count(*) FROM payments WHERE paid_at >= :s AND paid_at < :u AND "
                                  "status = 'booked'"),
                             {"s": _sqlite_value(since) if engine.dialect.name == "sqlite" else since,
                              "u": _sqlite_value(until) if engine.dialect.name == "sqlite" else until}).scalar_one()
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu0
        server1 = _backend_cpu(conn) if pg else None
    counted = {"wall_seconds": round(wall, 2), "cpu_seconds": round(cpu, 2), "rows": int(found)}
    if server0 is not None and server1 is not None:
        counted["postgresql_backend_cpu_seconds"] = round(server1 - server0, 2)
    return counted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--seed", type=int, default=20261207)
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--terminals", type=int, default=400)
    parser.add_argument("--without-index", action="store_true", help="SQLite: also scan without ix_payments_paid_at")
    args = parser.parse_args()
    summary: dict[str, object] = {"command": " ".join(["bench/bench_fraud_scan.py", *sys.argv[1:]]),
                                  "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                                  "load_average": os.getloadavg(), "db": args.db}
    with tempfile.TemporaryDirectory() as tmp:
        if args.db == "sqlite":
            url, admin, name = f"sqlite:///{tmp}/scan.db", None, None
        else:
            name = f"bench_scan_{uuid.uuid4().hex[:8]}"
            admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
        engine = make_engine(url)
        try:
            upgrade_to_head(engine)
            started = time.perf_counter()
            rows = _rows(random.Random(args.seed), transactions=args.transactions, days=args.days,
                         accounts=args.accounts, terminals=args.terminals)
            summary["generate_seconds"] = round(time.perf_counter() - started, 1)
            started = time.perf_counter()
            _load(engine, rows)
            summary["load_seconds"] = round(time.perf_counter() - started, 1)
            del rows
            since, until = START, START + dt.timedelta(days=args.days)
            summary["baseline_count"] = _timed_count(engine, since - dt.timedelta(days=1), until)
            summary["bare_read"] = _timed_read(engine, since, until)
            summary["scan"] = _timed_scan(engine, since, until)
            if args.without_index and args.db == "sqlite":
                with engine.begin() as conn:
                    conn.execute(text("DROP INDEX ix_payments_paid_at"))
                summary["scan_without_ix_payments_paid_at"] = _timed_scan(engine, since, until)
                with engine.begin() as conn:  # and back, timed again: the first scan ran on a colder cache
                    conn.execute(text("CREATE INDEX ix_payments_paid_at ON payments (paid_at)"))
                summary["scan_with_index_again"] = _timed_scan(engine, since, until)
            summary["load_average_after"] = os.getloadavg()
        finally:
            engine.dispose()
            if admin is not None:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
