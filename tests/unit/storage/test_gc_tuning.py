"""The collector settings of bulk-work processes, checked in a fresh interpreter (never this one)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _in_fresh_interpreter(code: str) -> dict:
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def test_tuning_freezes_start_up_objects_and_raises_the_thresholds() -> None:
    found = _in_fresh_interpreter(
        "import gc, json\n"
        "from vouchers.storage.gc_tuning import BULK_THRESHOLDS, tune_for_bulk_work\n"
        "before = gc.get_threshold()\n"
        "tune_for_bulk_work()\n"
        "print(json.dumps({'before': before, 'after': gc.get_threshold(), 'wanted': BULK_THRESHOLDS,\n"
        "                  'frozen': gc.get_freeze_count(), 'enabled': gc.isenabled()}))\n")
    assert found["before"] == [700, 10, 10]
    assert found["after"] == found["wanted"] and found["after"][0] >= 10_000
    assert found["frozen"] > 1000  # the imported modules' objects
    assert found["enabled"]  # cycles are still collected


def test_garbage_cycles_are_still_collected_after_tuning() -> None:
    found = _in_fresh_interpreter(
        "import gc, json, weakref\n"
        "from vouchers.storage.gc_tuning import tune_for_bulk_work\n"
        "tune_for_bulk_work((1000, 10, 10))\n"
        "class Node: pass\n"
        "refs = []\n"
        "for _ in range(5000):\n"
        "    a, b = Node(), Node()\n"
        "    a.other, b.other = b, a\n"
        "    refs.append(weakref.ref(a))\n"
        "print(json.dumps({'alive': sum(r() is not None for r in refs)}))\n")
    assert found["alive"] < 5000 // 2  # collected along the way, not kept until exit


def test_billing_worker_processes_are_tuned() -> None:
    found = _in_fresh_interpreter(
        "import gc, json, datetime as dt\n"
        "from vouchers.metering import billing\n"
        "from vouchers.metering.config import MeteringConfig\n"
        "from vouchers.storage.gc_tuning import BULK_THRESHOLDS\n"
        "job = billing._Job(1, '2026-11', dt.date(2026, 11, 30), dt.datetime(2026, 11, 30, tzinfo=dt.UTC), 't')\n"
        "billing._init_worker('sqlite://', job, None, MeteringConfig())\n"
        "print(json.dumps({'thresholds': gc.get_threshold(), 'wanted': BULK_THRESHOLDS,\n"
        "                  'frozen': gc.get_freeze_count()}))\n")
    assert found["thresholds"] == found["wanted"]
    assert found["frozen"] > 1000
