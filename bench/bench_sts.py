"""STS vending throughput on one core vs the raw rate of its two primitives.

    .venv/bin/python bench/bench_sts.py [--count 20000] [--rounds 5]

*Vending* is the full software path for one credit token per meter, as a vending
service would run it: kWh text -> transfer units, ``next_tid`` from the meter's
last TID, RND from ``secrets``, DKGA04 decoder key (HMAC-SHA-256), MISTY1 key
schedule and encryption, CRC, transposition and the 20 digits
(``SoftwareVendingBackend.vend``). *Raw* is the same implementation's primitives
alone for the same meters: one HMAC-SHA-256 over the DKGA04 message plus one
MISTY1 key schedule and block encryption. Both run in this one thread; rounds
alternate between the two, each is timed in process CPU time (so other work on a
shared machine does not count against either), and the best round of each is
reported. Target: vending >= 0.5 x raw.
"""
from __future__ import annotations

import argparse
import hmac
import json
import os
import platform
import secrets
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

if __package__ in (None, "") and str(Path(__file__).resolve().parents[1]) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from vouchers.sts.backend import CreditRequest, SoftwareVendingBackend  # noqa: E402
from vouchers.sts.amount import kwh_to_units  # noqa: E402
from vouchers.sts.dkga04 import MeterKeyParams  # noqa: E402
from vouchers.sts.misty1 import Misty1  # noqa: E402
from vouchers.sts.pan import MeterPan, luhn_check_digit  # noqa: E402
from vouchers.sts.tid import BaseDate, next_tid  # noqa: E402

VENDING_KEY = bytes.fromhex("abababababababab949494949494949401234567")  # the public test key


def _meters(count: int) -> list[MeterKeyParams]:
    meters = []
    for i in range(count):
        payload = f"600727{i:011d}"
        pan = MeterPan(payload + str(luhn_check_digit(payload)))
        meters.append(MeterKeyParams(pan, 123457, 1, 1 + i % 9, 2, BaseDate.Y2014))
    return meters


def _check_vector() -> None:
    meter = MeterKeyParams(MeterPan("600727000000000009"), 123457, 1, 1, 2, BaseDate.Y1993)
    token = SoftwareVendingBackend.single_key(VENDING_KEY).vend(meter, CreditRequest(1), tid=5871660, rnd=5)
    if token.digits != "59386323472137426967":
        raise SystemExit("the implementation does not reproduce the CTSA01 vector; not benchmarking it")


def vend_round(meters: list[MeterKeyParams], amounts: list[str], now: datetime) -> float:
    backend = SoftwareVendingBackend.single_key(VENDING_KEY)
    last: dict[str, int] = {}  # the last TID per meter, keyed by PAN (a database column in real life)
    start = time.process_time()
    for meter, amount in zip(meters, amounts):
        pan = meter.pan.digits
        tid = next_tid(now, last.get(pan), meter.base_date)
        backend.vend(meter, CreditRequest(kwh_to_units(amount)), tid=tid)
        last[pan] = tid
    return time.process_time() - start


def raw_round(messages: list[bytes], blocks: list[int]) -> float:
    digest = hmac.digest
    start = time.process_time()
    for message, block in zip(messages, blocks):
        Misty1(digest(VENDING_KEY, message, "sha256")[:16]).encrypt_block(block)
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5_000, help="tokens (and raw operations) per round")
    parser.add_argument("--rounds", type=int, default=15, help="rounds of each, alternating; best is reported")
    args = parser.parse_args()

    _check_vector()
    meters = _meters(args.count)
    amounts = [f"{secrets.randbelow(20_000)}.{secrets.randbelow(10)}" for _ in meters]
    messages = [m.dkga04_message() for m in meters]
    blocks = [secrets.randbits(64) for _ in meters]
    now = datetime(2030, 6, 1, 12, 0, tzinfo=timezone.utc)

    vend_times, raw_times = [], []
    for r in range(args.rounds):
        raw_times.append(raw_round(messages, blocks))
        vend_times.append(vend_round(meters, amounts, now + timedelta(minutes=r)))
    vend_rate = args.count / min(vend_times)
    raw_rate = args.count / min(raw_times)
    result = {
        "tokens_per_s": round(vend_rate),
        "raw_hmac_sha256_plus_misty1_per_s": round(raw_rate),
        "ratio": round(vend_rate / raw_rate, 3),
        "target_ratio": 0.5,
        "count": args.count,
        "rounds": args.rounds,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus_visible": os.cpu_count(),
    }
    print(f"vending: {vend_rate:,.0f} tokens/s on one core")
    print(f"raw HMAC-SHA-256 + MISTY1 (key schedule + 1 block): {raw_rate:,.0f} /s")
    print(f"ratio vending/raw: {vend_rate / raw_rate:.3f} (target >= 0.5)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
