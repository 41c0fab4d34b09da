"""The collection report and the warnings, checked against figures worked out by hand.

Three accounts, report month 2027-02 (cut-off 2027-02-28, end of day):

A (North, postpaid, Fujian): bill 2026-11 99.66 (due 2026-12-07) paid 50.00 on 2027-01-15 and 49.66 on
  2027-02-10 by Alipay; bills 2027-01 49.83 (due 02-07) and 2027-02 49.83 (due 03-07) unpaid; a late fee
  charged at the end of January: 39 days x 0.09966 + 16 days x 0.04966 = 4.68134 -> 4.68.
B (South, prepaid, Fujian): 100.00 by WeChat Pay on 2027-01-02; bill 2027-01 49.83 paid from it; bill 2027-02
  74.75: 50.17 from the balance, 24.58 owed (due 02-28); pays 30.00 on 2027-03-02 (after the cut-off).
C (South, postpaid, Jiangxi): opening arrears 300.00 due 2026-06-30; pays 100.00 in cash on 2027-02-20;
  bill 2027-02 120.00 (due 03-07) unpaid.

carried in 99.66 + 300.00 = 399.66; old collected 99.66 + 100.00 = 199.66
billed this year 49.83 + 49.83 + 49.83 + 74.75 + 120.00 = 344.24; collected on them 49.83 + 50.17 = 100.00
cumulative 299.66 / 743.90 = 40.28 -> 40.3 %; this year 100.00 / 344.24 = 29.05 -> 29.0 %;
earlier years 199.66 / 399.66 = 49.96 -> 50.0 %; this month 50.17 / 244.58 = 20.51 -> 20.5 %
"""
from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from vouchers.books import customers
from vouchers.metering import collection, late_fees
from tests.integration.metering.conftest import World, at

LATER = at("2027-06-01")  # every month reported below has ended


@pytest.fixture
def scene(world: World) -> World:
    world.customer("A", area="North", opening=("2026-10-20", "0"))
    world.customer("B", area="South", mode="prepaid", opening=("2026-12-20", "0"))
    world.customer("C", area="South", tariff="jx-residential", opening=("2027-01-25", "0"), created="2026-06-01")
    with world.sessions.begin() as s:
        customers.issue_bill(s, "C", 30000, due_date=dt.date(2026, 6, 30), bill_ref="legacy", now=at("2026-06-01"))
    world.read("A", "2026-11-20", "200")
    world.bill("2026-11", "2026-11-30")
    world.pay("B", "100.00", "2027-01-02", channel="wechat_pay")
    world.pay("A", "50.00", "2027-01-15", channel="alipay")
    world.read_many([("A", "MA", "2027-01-20", "300", None, None, False),
                     ("B", "MB", "2027-01-20", "100", None, None, False)])
    world.bill("2027-01", "2027-01-31")
    with world.sessions.begin() as s:
        fee = late_fees.settle_account(s, "A", upto=dt.date(2027, 1, 31), now=at("2027-01-31", 23),
                                       catalog=world.catalog)
    assert fee.fee_fen == 468
    world.pay("A", "49.66", "2027-02-10", channel="alipay")
    world.pay("C", "100.00", "2027-02-20", channel="counter_cash")
    world.read_many([("A", "MA", "2027-02-20", "400", None, None, False),
                     ("B", "MB", "2027-02-20", "250", None, None, False),
                     ("C", "MC", "2027-02-20", "200", None, None, False)])
    world.bill("2027-02", "2027-02-28")
    world.pay("B", "30.00", "2027-03-02", channel="wechat_pay")
    return world


def _report(world: World) -> dict:
    with world.sessions.begin() as s:
        return collection.collection_report(s, "2027-02", now=LATER, config=world.config).as_dict()


def test_rates_by_hand(scene: World) -> None:
    total = _report(scene)["total"]
    assert (total["carried_in"], total["old_collected"]) == ("399.66", "199.66")
    assert (total["year_billable"], total["year_collected"]) == ("344.24", "100.00")
    assert (total["month_billable"], total["month_collected"]) == ("244.58", "50.17")
    assert (total["billable_to_date"], total["collected_to_date"]) == ("743.90", "299.66")
    assert (total["cumulative_rate"], total["this_year_rate"], total["earlier_years_rate"],
            total["month_rate"]) == ("40.3", "29.0", "50.0", "20.5")


def test_aging_by_hand(scene: World) -> None:
    report = _report(scene)
    arrears = report["total"]["arrears"]
    assert arrears["categories"] == {"this_month": "194.41", "earlier_months": "49.83", "prior_years": "200.00",
                                     "penalties": "4.68"}
    assert arrears["days_past_due"] == {"0-30": "248.92", "31-90": "0.00", "91-365": "200.00", ">365": "0.00"}
    assert arrears["total"] == "448.92"
    assert report["total"]["accounts_in_arrears"] == 3
    north, south = report["by_area"]["North"], report["by_area"]["South"]
    assert (north["cumulative_rate"], north["this_year_rate"], north["earlier_years_rate"]) == ("50.0", "0.0",
                                                                                                "100.0")
    assert (south["cumulative_rate"], south["this_year_rate"], south["earlier_years_rate"]) == ("36.7", "40.9",
                                                                                                "33.3")
    assert north["arrears"]["categories"] == {"this_month": "49.83", "earlier_months": "49.83",
                                              "prior_years": "0.00", "penalties": "4.68"}
    assert set(report["by_channel"]) == {"alipay", "wechat_pay", "counter_cash"}
    assert report["by_channel"]["counter_cash"]["arrears"]["total"] == "320.00"
    assert report["receipts"] == {"alipay": {"count": 1, "amount": "49.66"},
                                  "counter_cash": {"count": 1, "amount": "100.00"}}
    assert [(r["account_no"], r["arrears"], r["days_past_due"]) for r in report["top_arrears"]] == [
        ("C", "320.00", 243), ("A", "104.34", 28), ("B", "24.58", 0)]


def test_csv_has_every_figure(scene: World) -> None:
    with scene.sessions.begin() as s:
        text = collection.report_csv(collection.collection_report(s, "2027-02", now=LATER))
    rows = {(r["section"], r["group"], r["measure"]): r["value"] for r in csv.DictReader(io.StringIO(text))}
    assert rows[("total", "all", "cumulative_rate")] == "40.3"
    assert rows[("area", "South", "this_year_rate")] == "40.9"
    assert rows[("total", "all", "arrears_days_91-365")] == "200.00"
    assert rows[("channel", "alipay", "arrears_penalties")] == "4.68"
    assert rows[("receipts", "counter_cash", "amount")] == "100.00"


def test_csv_neutralises_an_area_a_spreadsheet_would_run_as_a_formula(world: World) -> None:
    world.customer("D", area="=HYPERLINK(\"http://x\";\"y\")", opening=("2026-10-20", "0"))
    world.read("D", "2026-11-20", "200")
    world.bill("2026-11", "2026-11-30")
    with world.sessions.begin() as s:
        text = collection.report_csv(collection.collection_report(s, "2027-02", now=LATER))
    rows = list(csv.DictReader(io.StringIO(text)))
    areas = {r["group"] for r in rows if r["section"] == "area"}
    assert areas == {"'=HYPERLINK(\"http://x\";\"y\")"}
    assert not any(r[k][:1] in "=+@" for r in rows for k in ("section", "group", "measure"))


def test_an_earlier_month_sees_only_what_was_known_then(scene: World) -> None:
    with scene.sessions.begin() as s:
        january = collection.collection_report(s, "2027-01", now=LATER).as_dict()["total"]
    # the 2027-02-10 payment is after January's cut-off: only 50.00 of the old bill was collected
    assert (january["carried_in"], january["old_collected"]) == ("399.66", "50.00")
    assert (january["year_billable"], january["year_collected"]) == ("99.66", "49.83")


def test_warnings_by_hand(scene: World) -> None:
    with scene.sessions.begin() as s:
        found = collection.warnings(s, now=at("2027-03-10"), catalog=scene.catalog, config=scene.config)
    levels = [(w.account_no, w.level) for w in found]
    assert levels == [("C", "red"), ("A", "red"), ("B", "blue")]
    reasons = {w.account_no: w.reasons for w in found}
    assert "old arrears from an earlier year" in reasons["C"]
    assert reasons["A"][0] == "arrears 38 days past due"
    assert reasons["B"] == ("available balance 5.42 below 30.00",)
    assert found[2].available_fen == 542


def test_empty_month(world: World) -> None:
    report = collection.collection_report
    with world.sessions.begin() as s:
        document = report(s, "2026-01", now=LATER).as_dict()
    assert document["total"]["cumulative_rate"] is None and document["total"]["arrears"]["total"] == "0.00"


def _running(world: World, now: dt.datetime) -> dict:
    with world.sessions.begin() as s:
        return collection.collection_report(s, "2026-12", now=now, config=world.config).as_dict()


@pytest.fixture
def due_mid_december(world: World) -> World:
    """One postpaid bill issued 2026-12-07 and due 2026-12-14 (issue 22's observation)."""
    world.customer("E", area="东湖区", opening=("2026-11-01", "0"))
    world.read("E", "2026-11-30", "200")
    world.bill("2026-11", "2026-12-07", now=at("2026-12-07", 9))
    with world.sessions.begin() as s:
        due = collection.collection_report(s, "2026-12", now=LATER, config=world.config).top_arrears[0]["oldest_due"]
    assert due == "2026-12-14"
    return world


def test_a_running_month_is_reported_to_today_with_the_cutoff_stated(due_mid_december: World) -> None:
    """Issue 22: `--month 2026-12` on 2026-12-07 used cut-off 2026-12-31 and showed 17 days past due."""
    report = _running(due_mid_december, at("2026-12-07", 15))
    assert (report["cutoff"], report["month_complete"]) == ("2026-12-07", False)
    assert [(r["account_no"], r["days_past_due"]) for r in report["top_arrears"]] == [("E", 0)]
    assert report["total"]["arrears"]["days_past_due"]["0-30"] != "0.00"


def test_overdue_days_never_exceed_the_days_since_the_due_date_at_the_day_boundary(due_mid_december: World
                                                                                  ) -> None:
    last_minute = at("2026-12-17", 23).replace(minute=59)  # 23:59 Beijing on the 17th: 3 days past due
    first_minute = at("2026-12-18", 0)  # 00:00 Beijing on the 18th (16:00 UTC on the 17th): 4 days
    assert _running(due_mid_december, last_minute)["top_arrears"][0]["days_past_due"] == 3
    assert _running(due_mid_december, last_minute)["cutoff"] == "2026-12-17"
    assert _running(due_mid_december, first_minute)["top_arrears"][0]["days_past_due"] == 4
    assert _running(due_mid_december, first_minute)["cutoff"] == "2026-12-18"
    ended = _running(due_mid_december, at("2027-01-01", 0))
    assert (ended["cutoff"], ended["month_complete"], ended["top_arrears"][0]["days_past_due"]) == (
        "2026-12-31", True, 17)


def test_a_month_not_begun_is_refused(world: World) -> None:
    from vouchers.metering.errors import ReportError

    with world.sessions.begin() as s, pytest.raises(ReportError, match="has not begun"):
        collection.collection_report(s, "2026-12", now=at("2026-11-30", 23), config=world.config)
