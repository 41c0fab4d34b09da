"""Standing mutation check (issue 26): mutmut over the modules that hold money and trust rules.

Each group mutates its own modules and runs only its own fast tests (SQLite; PostgreSQL variants are left to
the suite), in a scratch copy of the work tree, so groups are independent and a group can be run alone:

    scripts/mutate                    # every group
    scripts/mutate money codes        # some groups
    scripts/mutate --list             # the groups, their modules and tests

It writes docs/mutation-report.txt: per group the duration, the counts, and every surviving mutant with its
diff. What each survivor means (a test added, or why it is equivalent) is written by hand in docs/testing.md.
Environment: MUTATE_WORK (scratch folder, default /tmp/voucher-mutate), MUTATE_CHILDREN (parallel test
processes, default 2), MUTATE_GROUP_TIMEOUT (seconds per group, default 1800; a group cut short is reported).
"""
from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "docs" / "mutation-report.txt"
PYTEST_ARGS = ["-p", "no:cacheprovider", "-q", "-p", "no:xdist", "--no-postgres", "-x"]


@dataclass(frozen=True)
class Group:
    name: str
    rule: str
    modules: tuple[str, ...]
    tests: tuple[str, ...]


GROUPS = (
    Group("codes", "codes and the Damm check digit", ("vouchers/damm.py", "vouchers/codes.py"),
          ("tests/unit/vouchers", "tests/integration/issuer/test_generation.py")),
    Group("money", "amounts in minor units", ("vouchers/money.py",), ("tests/unit/vouchers",)),
    Group("token", "token verification", ("vouchers/token.py",), ("tests/unit/vouchers",)),
    Group("allocation", "arrears first, oldest bill first", ("ledger/allocation.py",),
          ("tests/unit/ledger/test_allocation.py",)),
    Group("imports", "bulk import allocation", ("ledger/imports.py",), ("tests/integration/ledger/test_imports.py",)),
    Group("redemption", "the redemption claim", ("redeem_api/redemption.py",),
          ("tests/integration/redeem_api/test_redemption.py", "tests/integration/redeem_api/test_last_valid_day.py",
           "tests/integration/redeem_api/test_money_in.py", "tests/integration/redeem_api/test_throttle_and_fraud.py")),
    Group("idempotency", "Idempotency-Key", ("redeem_api/idempotency.py",),
          ("tests/integration/redeem_api/test_idempotency.py", "tests/integration/redeem_api/test_idempotency_rule.py")),
    Group("journal", "the journal and verify", ("ledger/journal.py", "ledger/verify.py"),
          ("tests/integration/ledger/test_journal.py", "tests/integration/ledger/test_verify.py")),
    Group("throttle", "failed-attempt throttle", ("redeem_api/throttle.py",),
          ("tests/integration/redeem_api/test_throttle_and_fraud.py",)),
    Group("stock", "consignment", ("ledger/stock.py",), ("tests/integration/ledger/test_stock.py",)),
    Group("tariffs", "tariff pricing", ("tariffs/pricing.py",),
          ("tests/unit/tariffs/test_pricing.py", "tests/unit/tariffs/test_vectors.py")),
)


def _copy_tree(work: Path) -> None:
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                           capture_output=True).stdout.split(b"\0")
    for name in filter(None, files):
        source = ROOT / os.fsdecode(name)
        if source.is_file():
            target = work / os.fsdecode(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def _configure(work: Path, group: Group) -> None:
    packages = sorted({m.split("/")[0] for m in group.modules})
    lines = ["", "[mutmut]", "source_paths =", *(f"    {p}" for p in packages), "only_mutate =",
             *(f"    {m}" for m in group.modules), "pytest_add_cli_args =", *(f"    {a}" for a in PYTEST_ARGS),
             "pytest_add_cli_args_test_selection =", *(f"    {t}" for t in group.tests), ""]
    with open(work / "setup.cfg", "a", encoding="utf-8") as cfg:
        cfg.write("\n".join(lines))


def run_group(group: Group, base: Path, mutmut: str, children: int, limit: float) -> dict:
    work = base / group.name
    _copy_tree(work)
    _configure(work, group)
    started = time.monotonic()
    cpu_before = os.times()
    log_path = work / "mutmut-run.log"
    with open(log_path, "wb") as log:
        # its own process group: on time-out the forked test processes go with it
        proc = subprocess.Popen([mutmut, "run", "--max-children", str(children)], cwd=work, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            proc.wait(timeout=limit)
            cut_short = False
        except subprocess.TimeoutExpired:
            cut_short = True
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    tail = log_path.read_text("utf-8", "replace")[-2000:]
    seconds = time.monotonic() - started
    cpu_after = os.times()
    cpu = (cpu_after.children_user - cpu_before.children_user) + (cpu_after.children_system - cpu_before.children_system)
    results = subprocess.run([mutmut, "results", "--all", "true"], cwd=work, capture_output=True, text=True)
    status: dict[str, str] = {}
    for line in results.stdout.splitlines():
        m = re.match(r"\s*(\S+): (.+)$", line)
        if m:
            status[m.group(1)] = m.group(2).strip()
    survivors = sorted(n for n, s in status.items() if s not in ("killed", "not checked"))
    diffs = {}
    for name in survivors:
        shown = subprocess.run([mutmut, "show", name], cwd=work, capture_output=True, text=True)
        diffs[name] = shown.stdout.strip()
    counts: dict[str, int] = {}
    for s in status.values():
        counts[s] = counts.get(s, 0) + 1
    return {"group": group, "seconds": seconds, "cpu": cpu, "cut_short": cut_short, "counts": counts,
            "survivors": survivors, "status": status, "diffs": diffs, "tail": tail}


def write_report(results: list[dict], command: str) -> None:
    out = [f"Mutation report (scripts/mutate, mutmut {_mutmut_version()})",
           f"date: {dt.date.today().isoformat()}", f"command: {command}", ""]
    total = sum(r["seconds"] for r in results)
    out.append(f"{'group':<12} {'wall s':>7} {'cpu s':>7}  counts")
    for r in results:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(r["counts"].items()))
        note = "  (CUT SHORT by MUTATE_GROUP_TIMEOUT)" if r["cut_short"] else ""
        out.append(f"{r['group'].name:<12} {r['seconds']:7.0f} {r['cpu']:7.0f}  {counts or 'no result'}{note}")
    out += [f"{'total':<12} {total:7.0f}", ""]
    for r in results:
        g = r["group"]
        out += ["=" * 100, f"{g.name}: {g.rule}", f"  modules: {' '.join(g.modules)}", f"  tests: {' '.join(g.tests)}",
                f"  not killed: {len(r['survivors'])}", ""]
        if not r["status"]:
            out += ["  mutmut gave no result; its output ended with:", r["tail"], ""]
        for name in r["survivors"]:
            out += [f"### {name}: {r['status'][name]}", r["diffs"][name], ""]
    REPORT.write_text("\n".join(out) + "\n", encoding="utf-8")


def _mutmut_version() -> str:
    from importlib.metadata import version

    return version("mutmut")


def main(argv: list[str]) -> int:
    by_name = {g.name: g for g in GROUPS}
    if argv[:1] == ["--list"]:
        for g in GROUPS:
            print(f"{g.name:<12} {' '.join(g.modules)}  <-  {' '.join(g.tests)}")
        return 0
    unknown = [a for a in argv if a not in by_name]
    if unknown:
        print(f"unknown group(s): {' '.join(unknown)}; see --list", file=sys.stderr)
        return 2
    groups = [by_name[a] for a in argv] or list(GROUPS)
    base = Path(os.environ.get("MUTATE_WORK", "/tmp/voucher-mutate"))
    children = int(os.environ.get("MUTATE_CHILDREN", "2"))
    limit = float(os.environ.get("MUTATE_GROUP_TIMEOUT", "1800"))
    mutmut = str(Path(sys.executable).with_name("mutmut"))
    results = []
    for g in groups:
        print(f"== {g.name}: {' '.join(g.modules)}", flush=True)
        r = run_group(g, base, mutmut, children, limit)
        results.append(r)
        print(f"   {r['seconds']:.0f} s, {r['counts']}, not killed: {len(r['survivors'])}", flush=True)
        write_report(results, "scripts/mutate " + " ".join(argv))  # as it goes: a long run leaves a partial report
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
