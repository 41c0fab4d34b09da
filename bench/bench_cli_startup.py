"""How long ``voucherctl`` takes to answer, against the bare interpreter's start in the same run.

Every CLI call is a fresh Python process (tills' scripts, cron jobs, the
operators' shell), so what a command imports is paid on every call. Each case
runs ``--runs`` times, interleaved with the others so that a noisy minute
touches them all; the median and the best wall time are printed, and each
median as a multiple of ``python -c pass`` measured in the same rounds.

    .venv/bin/python bench/bench_cli_startup.py --runs 15

Uses a throw-away SQLite home (``init`` + ``keys create`` + one small batch)
for the cases that read the database.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VOUCHERCTL = [sys.executable, "-m", "voucherctl"]

CASES: dict[str, list[str]] = {
    "python -c pass (baseline)": [sys.executable, "-c", "pass"],
    "voucherctl tariff --help": [*VOUCHERCTL, "tariff", "--help"],
    "voucherctl batch list --json": [*VOUCHERCTL, "batch", "list", "--json"],
    "voucherctl audit verify --json": [*VOUCHERCTL, "audit", "verify", "--json"],
    "voucherctl --help (lists every command)": [*VOUCHERCTL, "--help"],
}


def _run(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15, help="runs of each case (interleaved)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cli-bench-") as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VOUCHER_")}
        env.update(VOUCHER_HOME=home, VOUCHER_KEY_PASSPHRASE="benchmark passphrase, not a secret",
                   VOUCHER_WEB_PASSPHRASE="benchmark web secret, not a secret")
        for setup in (["init"], ["keys", "create"],
                      ["batch", "create", "--face-value", "10", "--count", "5", "--expires", "2099-12-31",
                       "--operator", "bench"]):
            _run([*VOUCHERCTL, *setup], env)
        times: dict[str, list[float]] = {name: [] for name in CASES}
        for _ in range(args.runs):
            for name, argv in CASES.items():
                times[name].append(_run(argv, env))

    baseline = statistics.median(times["python -c pass (baseline)"])
    load = os.getloadavg()[0]
    print(f"{args.runs} runs each, interleaved; load average {load:.2f} on {os.cpu_count()} CPUs")
    print("| case | median ms | best ms | median / bare interpreter |")
    print("| --- | ---: | ---: | ---: |")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {median * 1000:.0f} | {min(values) * 1000:.0f} | {median / baseline:.1f}x |")


if __name__ == "__main__":
    main()
