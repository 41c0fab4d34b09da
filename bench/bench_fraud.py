"""Fraud rules against a labelled scenario: recall per injected pattern, false-positive rate, scan time.

    .venv/bin/python bench/bench_fraud.py                      # 100,000 ordinary transactions, 50 per pattern
    .venv/bin/python bench/bench_fraud.py --ordinary 1000000 --per-pattern 50 --days 90   # the 1M scan time

Builds a scratch SQLite database (migrated to head), writes the scenario of
``bench/fraud_scenario.py`` (seeded), runs the scan (``voucherctl fraud scan``'s
function, alerts not recorded: the flags are scored) with the shipped default
thresholds, and prints a JSON summary and a Markdown table for docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from fraud_scenario import PATTERNS, TZ, generate, score  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from vouchers.services.fraud_config import FraudConfig  # noqa: E402
from vouchers.services.fraud_scan import scan  # noqa: E402
from vouchers.storage.db import make_engine  # noqa: E402
from vouchers.storage.migrate import upgrade_to_head  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=20261207)
    parser.add_argument("--ordinary", type=int, default=100_000)
    parser.add_argument("--per-pattern", type=int, default=50)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--accounts", type=int, default=4_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/fraud.db")
        upgrade_to_head(engine)
        started = time.perf_counter()
        sc = generate(engine, seed=args.seed, ordinary=args.ordinary, per_pattern=args.per_pattern, days=args.days,
                      accounts=args.accounts)
        generated = time.perf_counter() - started
        started = time.perf_counter()
        with Session(engine) as session:
            result = scan(session, since=sc.since, until=sc.until, cfg=FraudConfig(), tz=TZ, now=sc.until,
                          record=False)
        scanned = time.perf_counter() - started
        engine.dispose()
    summary = score(sc, result.flagged)
    summary.update({"command": " ".join(["bench/bench_fraud.py", *sys.argv[1:]]), "days": args.days,
                    "generate_seconds": round(generated, 1), "scan_seconds": round(scanned, 1),
                    "scanned_events": result.events})
    print(json.dumps(summary, indent=2))
    print()
    print("| rule | instances | detected | recall | false positives | FPR |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for rule in PATTERNS:
        r = summary["rules"][rule]  # type: ignore[index]
        print(f"| `{rule}` | {r['instances']} | {r['detected']} | {r['recall']} | {r['false_positives']} | "
              f"{r['fpr']} |")
    print(f"| any rule, ordinary transactions | | | | {summary['false_positive_transactions']} | {summary['fpr']} |")


if __name__ == "__main__":
    main()
