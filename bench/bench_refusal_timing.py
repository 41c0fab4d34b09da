"""Can the answer's timing tell refusals apart? (issue 21, finding 6)

Every refusal of a well-formed code is the same ``invalid_voucher``; this measures whether its latency
still says which kind it was: unknown code, void card, not-yet-activated card, already redeemed card.
``--n`` requests per class (default 250), interleaved in random order, on the in-process app (Flask test
client: no network jitter, the most sensitive setting) against PostgreSQL (``--pg-url``, an admin URL; a
throw-away database is created and dropped) or SQLite (``--sqlite``). Each class is compared with the
unknown codes by a two-sided Mann-Whitney U test (scipy's if installed, else the normal approximation
with tie correction implemented below). Prints a JSON summary and a Markdown table for docs/benchmarks.md.

    .venv/bin/python bench/bench_refusal_timing.py --n 250
"""
from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CLASSES = ("unknown", "void", "inactive", "redeemed")


def mann_whitney(a: list[float], b: list[float]) -> float:
    """Two-sided p-value of the Mann-Whitney U test (normal approximation, ties corrected)."""
    try:
        from scipy.stats import mannwhitneyu  # type: ignore[import-not-found]

        return float(mannwhitneyu(a, b, alternative="two-sided").pvalue)
    except ImportError:
        pass
    values = sorted([(v, 0) for v in a] + [(v, 1) for v in b])
    ranks = [0.0] * len(values)
    ties = 0.0
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1][0] == values[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        t = j - i + 1
        ties += t ** 3 - t
        i = j + 1
    n1, n2 = len(a), len(b)
    r1 = sum(r for r, (_, group) in zip(ranks, values) if group == 0)
    u = r1 - n1 * (n1 + 1) / 2
    n = n1 + n2
    sigma = math.sqrt(n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1))))
    z = (u - n1 * n2 / 2) / sigma if sigma else 0.0
    return math.erfc(abs(z) / math.sqrt(2))


def run(db_url: str, n: int, seed: int) -> dict:
    import datetime as dt
    import zoneinfo

    from redeem_api.state import EXTENSION
    from tests.integration.redeem_api.world import ACCOUNT_CLEAN, Clock, auth, build_world
    from vouchers.codes import generate_code

    now = dt.datetime.now(zoneinfo.ZoneInfo("Asia/Shanghai"))
    with tempfile.TemporaryDirectory() as tmp:
        world = build_world(Path(tmp), db_url, now, count=40, active=30)
        void_batch, void_cards = world.new_batch(10, activate_count=5)
        world.void(void_batch)
        inactive = world.cards[30:40]
        app = world.app(Clock(now), VOUCHER_THROTTLE_CLIENT_FAILURES="1000000",
                        VOUCHER_THROTTLE_ACCOUNT_FAILURES="1000000")
        client = app.test_client()
        headers = lambda: auth(world.keys["terminal"], generate_code())  # noqa: E731 - a fresh key each time
        redeemed = world.cards[:10]
        for card in redeemed:
            assert client.post("/api/v1/redemptions", json={"code": card.code, "account_no": ACCOUNT_CLEAN},
                               headers=headers()).status_code == 201
        pools = {"void": [c.code for c in void_cards], "inactive": [c.code for c in inactive],
                 "redeemed": [c.code for c in redeemed]}
        order = [c for c in CLASSES for _ in range(n)]
        rng = random.Random(seed)
        rng.shuffle(order)
        for _ in range(50):  # warm-up
            client.post("/api/v1/redemptions", json={"code": generate_code(), "account_no": ACCOUNT_CLEAN},
                        headers=headers())
        times: dict[str, list[float]] = {c: [] for c in CLASSES}
        for i, kind in enumerate(order):
            code = generate_code() if kind == "unknown" else pools[kind][i % len(pools[kind])]
            body, h = {"code": code, "account_no": ACCOUNT_CLEAN}, headers()
            started = time.perf_counter()
            response = client.post("/api/v1/redemptions", json=body, headers=h)
            times[kind].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 422, (kind, response.status_code)
        app.extensions[EXTENSION].engine.dispose()
        world.engine.dispose()
    summary = {}
    for kind in CLASSES:
        t = times[kind]
        summary[kind] = {"median_ms": round(statistics.median(t), 3), "mean_ms": round(statistics.fmean(t), 3),
                         "p_vs_unknown": None if kind == "unknown" else mann_whitney(t, times["unknown"])}
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=250)
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--sqlite", action="store_true")
    args = parser.parse_args()
    if args.sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            from sqlalchemy import create_engine

            from vouchers.storage.migrate import upgrade_to_head

            url = f"sqlite:///{tmp}/bench.db"
            upgrade_to_head(create_engine(url))
            summary = run(url, args.n, args.seed)
    else:
        import os

        os.environ["VOUCHER_TEST_PG_URL"] = args.pg_url
        from sqlalchemy import create_engine

        from tests.conftest import scratch_pg_database
        from vouchers.storage.migrate import upgrade_to_head

        with scratch_pg_database("bench_timing") as url:
            engine = create_engine(url)
            upgrade_to_head(engine)
            engine.dispose()
            summary = run(url, args.n, args.seed)
    print(json.dumps({"n": args.n, "database": "sqlite" if args.sqlite else "postgresql", "classes": summary},
                     indent=2))
    print("\n| class | median ms | mean ms | Mann-Whitney p vs unknown |\n|---|---|---|---|")
    for kind, s in summary.items():
        p = "—" if s["p_vs_unknown"] is None else f"{s['p_vs_unknown']:.3g}"
        print(f"| {kind} | {s['median_ms']} | {s['mean_ms']} | {p} |")


if __name__ == "__main__":
    main()
