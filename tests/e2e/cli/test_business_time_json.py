"""Issue 22: instants in the CLI's JSON are ISO 8601 in business time (VOUCHER_TIMEZONE) with the offset,
field names unchanged: batch ``created_at``, cost-control orders, the outbox list, ``audit verify``'s
checkpoints and the payment import's ``paid_at`` bound (``vended_at``: tests/e2e/test_sts_cli.py).

Every case sits at the day boundary: 23:30 in Beijing is 15:30 UTC, so a UTC writer would show +00:00 and the
day before's hour, and a naive one no offset at all."""
from __future__ import annotations

import datetime as dt
import json
import re
import zoneinfo

import pytest
from vouchers.storage.api_models import OutboxMessage
from vouchers.storage.db import make_engine, session_factory
from vouchers.storage.metering_models import CostControlOrder, MeteringNotification

from .conftest import FAR_EXPIRY, Cli

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
LATE = dt.datetime(2026, 11, 26, 23, 30, tzinfo=SHANGHAI)  # 15:30 UTC, the same date in UTC
LATE_UTC = LATE.astimezone(dt.timezone.utc)
AROUND_LATE = re.compile(r"2026-11-26T23:3\d:\d\d\+08:00")  # a child's injected clock starts at LATE and ticks


@pytest.fixture
def db(cli: Cli, db_url):  # type: ignore[no-untyped-def]
    cli("init", check=True)
    engine = make_engine(db_url)
    yield session_factory(engine)
    engine.dispose()


def test_batch_created_at_and_audit_checkpoints_in_business_time(cli: Cli, tmp_path) -> None:
    late = cli.at(LATE)
    late("init", check=True)
    late("keys", "create", check=True)
    created = late("batch", "create", "--face-value", "10", "--count", "2", "--expires", FAR_EXPIRY,
                   "--operator", "alice", "--json", check=True).json()
    assert AROUND_LATE.fullmatch(created["created_at"]), created["created_at"]
    shown = late("batch", "show", created["batch_id"], "--json", check=True).json()
    assert shown["created_at"] == created["created_at"]

    out = tmp_path / "cp.json"
    written = late("audit", "checkpoint", "--out", str(out), "--json", check=True).json()
    assert written["at"].endswith("+00:00")  # the signed document itself: unchanged, verified as signed
    verified = late("audit", "verify", "--checkpoint", str(out), "--json", check=True).json()
    [checkpoint] = verified["checkpoints"]
    assert AROUND_LATE.fullmatch(checkpoint["at"]), checkpoint
    assert dt.datetime.fromisoformat(checkpoint["at"]) == dt.datetime.fromisoformat(written["at"]).replace(microsecond=0)


def test_cost_control_orders_in_business_time(cli: Cli, db) -> None:  # type: ignore[no-untyped-def]
    cli("accounts", "create", "--account-no", "3300012345", "--name", "东湖区客户", check=True)
    cli("billing", "assign", "3300012345", "--tariff", "fj-residential", "--mode", "prepaid", "--area", "湖里区",
        "--meter", "M1", check=True)
    with db.begin() as s:
        order = CostControlOrder(account_no="3300012345", meter_no="M1", kind="disconnect", status="pending",
                                 reason="zero balance", available_fen=-100, not_before=LATE_UTC,
                                 created_at=LATE_UTC - dt.timedelta(hours=1))
        s.add(order)
        s.flush()
        order_id = order.id
    [listed] = cli("cost-control", "orders", "--json", check=True).json()["orders"]
    assert (listed["not_before"], listed["created_at"], listed["acknowledged_at"]) == (
        "2026-11-26T23:30:00+08:00", "2026-11-26T22:30:00+08:00", None)
    acked = cli.at(LATE + dt.timedelta(seconds=5))("cost-control", "ack", str(order_id), "--result", "done",
                                                   "--json", check=True).json()
    assert AROUND_LATE.fullmatch(acked["acknowledged_at"]), acked
    assert acked["not_before"] == "2026-11-26T23:30:00+08:00"


def test_outbox_list_in_business_time(cli: Cli, db) -> None:  # type: ignore[no-untyped-def]
    with db.begin() as s:
        s.add(OutboxMessage(kind="sms.sts_token", account_no="3300012345", payload="{}", created_at=LATE_UTC,
                            attempts=1, next_attempt_at=LATE_UTC + dt.timedelta(minutes=30)))
        s.add(MeteringNotification(kind="low_balance_warning", account_no="3300012345", payload="{}",
                                   created_at=LATE_UTC, attempts=3, sent_at=LATE_UTC + dt.timedelta(minutes=31)))
    messages = cli("outbox", "list", "--json", check=True).json()["messages"]
    assert [(m["source"], m["created_at"], m["next_attempt_at"], m["sent_at"], m["dead_at"]) for m in messages] == [
        ("outbox", "2026-11-26T23:30:00+08:00", "2026-11-27T00:00:00+08:00", None, None),
        ("metering", "2026-11-26T23:30:00+08:00", None, "2026-11-27T00:01:00+08:00", None)]


def test_payment_import_names_its_earliest_paid_at_in_business_time(cli: Cli, db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cli("accounts", "create", "--account-no", "3300012345", "--name", "东湖区客户", check=True)
    lines = tmp_path / "pay.csv"
    lines.write_text("external_ref,account_no,amount,currency,paid_at\n"
                     "OLD-1,3300012345,1.00,CNY,2000-01-01T07:59:59+08:00\n", encoding="utf-8")
    r = cli("payments", "import", "--channel", "counter_cash", str(lines), "--json")
    assert r.code != 0
    [line] = json.loads(r.out)["error"]["lines"]
    assert "is before 2000-01-01T08:00:00+08:00" in line["message"], line
