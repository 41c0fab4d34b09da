"""The labelled scenario generator of bench/bench_fraud.py, small and fast, so neither it nor the scan rots:
every injected pattern is found by its rule, and few ordinary transactions are flagged."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from sqlalchemy.orm import Session

from vouchers.services.fraud_config import FraudConfig
from vouchers.services.fraud_scan import scan
from vouchers.storage.db import make_engine
from tests.conftest import sqlite_copy

BENCH = Path(__file__).resolve().parents[3] / "bench" / "fraud_scenario.py"


def _scenario_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("fraud_scenario", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("fraud_scenario", module)  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_generated_scenario_is_found_by_the_rules_with_few_false_positives(sqlite_template, tmp_path):
    fs = _scenario_module()
    engine = make_engine(sqlite_copy(sqlite_template, tmp_path / "fraud.db"))
    sc = fs.generate(engine, seed=7, ordinary=3_000, per_pattern=5, days=35, accounts=300, terminals=10)
    with Session(engine) as session:
        result = scan(session, since=sc.since, until=sc.until, cfg=FraudConfig(), tz=fs.TZ, now=sc.until,
                      record=False)
    engine.dispose()
    summary = fs.score(sc, result.flagged)
    assert {rule: r["instances"] for rule, r in summary["rules"].items()} == dict.fromkeys(fs.PATTERNS, 5)
    low = {rule: r["recall"] for rule, r in summary["rules"].items() if r["recall"] < 0.8}
    assert low == {}, summary
    assert summary["fpr"] <= 0.02, summary
