"""Standing mutation check (issue 26): mutmut over the modules that hold money and trust rules.

Each group mutates its own modules and runs only its own fast tests (SQLite; PostgreSQL variants are left to
the suite), in a scratch copy of the work tree, so groups are independent and a group can be run alone:

    scripts/mutate                    # every group
    scripts/mutate money codes        # some groups
    scripts/mutate --list             # the groups, their modules and tests

It writes docs/mutation-report.txt: per group the date, the duration, the counts, and every mutant not
killed with its diff. Each group's result is kept in its scratch copy (result.json), so running some groups
again updates their part of the report and keeps the others'. What each survivor means (a test added, or why it is equivalent) is written by hand in docs/testing.md.
Environment: MUTATE_WORK (scratch folder, default /tmp/voucher-mutate), MUTATE_CHILDREN (parallel test
processes, default 2), MUTATE_GROUP_TIMEOUT (seconds per group, default 1800; a group cut short is reported).
"""
from __future__ import annotations

import datetime as dt
import json
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
    Group("allocation", "arrears first, oldest bill first", ("vouchers/books/allocation.py",),
          ("tests/unit/books/test_allocation.py",)),
    Group("imports", "bulk import allocation", ("vouchers/books/imports.py",),
          ("tests/integration/books/test_imports.py", "tests/integration/books/test_alipay_books.py")),
    Group("redemption", "the redemption claim", ("vouchers/services/redeem.py",),
          ("tests/integration/redeem_api/test_redemption.py", "tests/integration/redeem_api/test_last_valid_day.py",
           "tests/integration/redeem_api/test_money_in.py", "tests/integration/redeem_api/test_throttle_and_fraud.py")),
    Group("idempotency", "Idempotency-Key", ("vouchers/services/idempotency.py",),
          ("tests/integration/redeem_api/test_idempotency.py", "tests/integration/redeem_api/test_idempotency_rule.py")),
    Group("journal", "the journal and verify", ("vouchers/books/journal.py", "vouchers/books/verify.py"),
          ("tests/integration/books/test_journal.py", "tests/integration/books/test_verify.py")),
    Group("throttle", "failed-attempt throttle", ("vouchers/services/throttle.py",),
          ("tests/integration/redeem_api/test_throttle_and_fraud.py",
           "tests/integration/services/test_redis_throttle.py")),
    Group("stock", "consignment", ("vouchers/books/stock.py",), ("tests/integration/books/test_stock.py",)),
    Group("tariffs", "tariff pricing", ("vouchers/tariffs/pricing.py",),
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
    """Mutate one group in a fresh copy of the tree; its result (also kept as ``result.json`` there)."""
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
    diffs = _diffs(work, survivors, mutmut)
    counts: dict[str, int] = {}
    for s in status.values():
        counts[s] = counts.get(s, 0) + 1
    result = {"group": group.name, "date": dt.date.today().isoformat(), "seconds": seconds, "cpu": cpu,
              "cut_short": cut_short, "counts": counts, "survivors": survivors,
              "status": {n: status[n] for n in survivors}, "diffs": diffs, "tail": tail,
              "checked": sum(v for k, v in counts.items() if k != "not checked")}
    (work / "result.json").write_text(json.dumps(result), encoding="utf-8")
    return result


# All diffs in one process (``mutmut show`` costs a second or more per mutant); mutmut's own functions, as
# its ``show`` command uses them. Falls back to ``mutmut show`` if that inner API moves.
_SHOW_ALL = """
import json, sys
from mutmut.__main__ import find_mutant, get_diff_for_mutant
json.dump({n: get_diff_for_mutant(n, path=find_mutant(n).path) for n in json.load(sys.stdin)}, sys.stdout)
"""


def _diffs(work: Path, names: list[str], mutmut: str) -> dict[str, str]:
    if not names:
        return {}
    shown = subprocess.run([sys.executable, "-c", _SHOW_ALL], cwd=work, input=json.dumps(names),
                           capture_output=True, text=True)
    if shown.returncode == 0:
        return {n: d.strip() for n, d in json.loads(shown.stdout).items()}
    return {n: subprocess.run([mutmut, "show", n], cwd=work, capture_output=True, text=True).stdout.strip()
            for n in names}


def write_report(base: Path, command: str) -> None:
    """The report of every group that has a result under ``base`` (this run's and earlier ones')."""
    results = []
    for g in GROUPS:
        path = base / g.name / "result.json"
        if path.exists():
            results.append((g, json.loads(path.read_text("utf-8"))))
    out = [f"Mutation report (scripts/mutate, mutmut {_mutmut_version()}); last command: {command}",
           "Each group: its modules mutated, only its tests run (SQLite; --no-postgres), one test process.", ""]
    out.append(f"{'group':<12} {'date':<10} {'wall s':>7} {'cpu s':>7}  counts")
    for g, r in results:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(r["counts"].items()))
        note = "  (cut short by MUTATE_GROUP_TIMEOUT)" if r["cut_short"] else ""
        out.append(f"{g.name:<12} {r['date']:<10} {r['seconds']:7.0f} {r['cpu']:7.0f}  {counts or 'no result'}{note}")
    out += [f"{'total':<12} {'':<10} {sum(r['seconds'] for _, r in results):7.0f} "
            f"{sum(r['cpu'] for _, r in results):7.0f}", ""]
    for g, r in results:
        out += ["=" * 100, f"{g.name}: {g.rule}", f"  modules: {' '.join(g.modules)}", f"  tests: {' '.join(g.tests)}",
                f"  not killed: {len(r['survivors'])}", ""]
        if not r["counts"]:
            out += ["  mutmut gave no result; its output ended with:", r["tail"], ""]
        for name in r["survivors"]:
            out += [f"### {name}: {r['status'][name]}", r["diffs"].get(name, ""), ""]
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
    for g in groups:
        print(f"== {g.name}: {' '.join(g.modules)}", flush=True)
        r = run_group(g, base, mutmut, children, limit)
        print(f"   {r['seconds']:.0f} s, {r['counts']}, not killed: {len(r['survivors'])}", flush=True)
        write_report(base, "scripts/mutate " + " ".join(argv))  # as it goes: a long run leaves a partial report
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
