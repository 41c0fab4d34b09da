"""The billing vectors (tests/vectors/metering/billing.toml) through the whole service.

Each scenario's readings are recorded, each period billed by a billing run,
and the bill compared with the hand-derived figures; every total is also
re-derived with the incremental method from the published constants
(tests/unit/tariffs/reference.py), and the books must verify afterwards.
"""
from __future__ import annotations

import datetime as dt
import tomllib
from decimal import Decimal
from pathlib import Path

import pytest

from vouchers.books.verify import verify
from tests.integration.metering.conftest import World, at, yuan
from tests.unit.tariffs import reference

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "metering" / "billing.toml"
D = Decimal


def _scenarios() -> list[dict]:
    with VECTORS.open("rb") as f:
        scenarios = tomllib.load(f)["scenario"]
    ids = [s["id"] for s in scenarios]
    assert len(ids) == len(set(ids)), "duplicate scenario ids"
    return scenarios


SCENARIOS = _scenarios()


def _readings(scenario: dict, step: dict) -> list[tuple]:
    account = scenario["id"][:32]
    rows = []
    for r in step["readings"]:
        if isinstance(r, dict):
            rows.append((account, r.get("meter", f"M{account}"), r["date"], r["reading"], r.get("peak"),
                         r.get("valley"), r.get("replacement", False)))
        else:
            peak, valley = (r[2], r[3]) if len(r) == 4 else (None, None)
            rows.append((account, f"M{account}", r[0], r[1], peak, valley, False))
    return rows


def _consumption(scenario: dict, steps_done: list[dict], step: dict) -> Decimal:
    if "kwh" in step:
        return D(step["kwh"])
    previous = D(scenario["opening"][1])
    for earlier in steps_done:
        last = earlier["readings"][-1]
        previous = D(last["reading"] if isinstance(last, dict) else last[1])
    last = step["readings"][-1]
    return D(last["reading"] if isinstance(last, dict) else last[1]) - previous


def _reference_total(scenario: dict, step: dict, kwh: Decimal) -> tuple[Decimal, Decimal]:
    """(total, refund) from the independent reference: one quote per group, one rounding."""
    last_date = step["readings"][-1]["date"] if isinstance(step["readings"][-1], dict) else step["readings"][-1][0]
    groups = step.get("groups") or [[last_date, str(kwh), step["used_before"]]]
    exact = D(0)
    refund = D("0.00")
    months = step.get("months")
    for index, (day, group_kwh, used) in enumerate(groups):
        p = reference.published(scenario["tariff"], dt.date.fromisoformat(day))
        exact += reference.energy_incremental(p, D(group_kwh), D(used), months)
        if "peak" in step:
            exact += D(step["peak"]) * p.peak_add - D(step["valley"]) * p.valley_cut
        if scenario.get("low_income") and index == len(groups) - 1:
            free = min(D(p.allowance_kwh), D(group_kwh))
            if p.allowance_mode == "deduct":
                exact -= free * p.prices[0]
            else:
                refund = reference.half_up_fen(free * p.prices[0])
    return reference.half_up_fen(exact), refund


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s["id"] for s in SCENARIOS])
def test_billing_vector(world: World, scenario: dict) -> None:
    account = scenario["id"][:32]
    world.customer(account, tariff=scenario["tariff"], mode=scenario.get("mode", "postpaid"),
                   opening=tuple(scenario["opening"]), low_income=scenario.get("low_income", False),
                   time_of_use=scenario.get("time_of_use", False), supply_start=scenario.get("supply_start"),
                   opening_tou=tuple(scenario["opening_tou"]) if "opening_tou" in scenario else None)
    for day, amount in scenario.get("payments", []):
        world.pay(account, amount, day)
    done: list[dict] = []
    for step in scenario["steps"] if "steps" in scenario else scenario["step"]:
        world.read_many(_readings(scenario, step))
        run = world.bill(step["period"], step["as_of"], accounts=[account])
        assert run.exceptions == [], run.exceptions
        bill = next(b for b in world.bills(account) if b.period == step["period"])
        got = [(line.tier, line.kwh, line.price, line.amount) for line in bill.lines]
        want = [(t, D(k), D(p), D(a)) for t, k, p, a in step["lines"]]
        assert got == want, f"{step['period']}: lines"
        if "line_versions" in step:
            assert [line.version_from.isoformat() for line in bill.lines] == step["line_versions"]
        assert bill.total_fen == yuan(step["total"]), f"{step['period']}: total"
        assert bill.used_before_ckwh == yuan(step["used_before"]), f"{step['period']}: position in the period"
        assert bill.allowance_refund_fen == yuan(step.get("refund", "0.00"))
        if "from_prepaid" in step:
            assert bill.from_prepaid_fen == yuan(step["from_prepaid"])
            assert bill.owed_fen == yuan(step["owed"])
        else:
            assert bill.owed_fen + bill.from_prepaid_fen == bill.total_fen

        # the vector itself: exact lines, tier kWh add up, and the independent reference agrees
        kwh = _consumption(scenario, done, step)
        assert sum(D(k) for t, k, _, _ in step["lines"] if t not in ("peak", "valley", "allowance")) == kwh
        for _, k, p, a in step["lines"]:
            assert D(k) * D(p) == D(a)
        assert reference.half_up_fen(sum(D(a) for *_, a in step["lines"])) == D(step["total"])
        ref_total, ref_refund = _reference_total(scenario, step, kwh)
        assert ref_total == D(step["total"]), f"{step['period']}: reference total {ref_total}"
        assert ref_refund == D(step.get("refund", "0.00"))
        done.append(step)
    with world.sessions.begin() as s:
        report = verify(s, today=dt.date(2030, 1, 1))
        assert report.ok, report.problems


def test_vectors_cover_the_issue(tmp_path) -> None:  # no database
    """At least the kinds of vector the issue asks for are present."""
    ids = {s["id"] for s in SCENARIOS}
    for needed in ("jx-annual-crossing", "fj-price-change-by-reading-date", "jx-part-year", "fj-time-of-use",
                   "jx-low-income-deduct", "fj-low-income-refund-prepaid", "fj-rounding-half-up"):
        assert needed in ids
    assert sum(len(s["step"]) for s in SCENARIOS) >= 20
    assert at("2026-01-01").tzinfo is not None
