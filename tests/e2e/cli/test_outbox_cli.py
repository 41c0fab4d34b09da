"""voucherctl outbox send/list and idempotency purge, end to end (SQLite and PostgreSQL)."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select

from vouchers.storage.api_models import IdempotencyRecord, OutboxMessage
from vouchers.storage.db import make_engine, session_factory
from vouchers.storage.metering_models import MeteringNotification

STS = json.dumps({"template": "sts_token", "payment_id": "P1", "amount": "50.00", "currency": "CNY",
                  "sts": {"token": "5938 6323 4721 3742 6967", "kwh": "90.1"}})


@pytest.fixture
def db(cli, db_url):
    cli("init", check=True)
    engine = make_engine(db_url)
    yield session_factory(engine)
    engine.dispose()


def _add_messages(db) -> None:
    at = dt.datetime.now(dt.timezone.utc)
    with db.begin() as s:
        s.add(OutboxMessage(kind="sms.sts_token", account_no="3300012345", payload=STS, created_at=at, attempts=0))
        s.add(MeteringNotification(kind="low_balance_warning", account_no="3300012345", created_at=at, attempts=0,
                                   payload=json.dumps({"account_no": "3300012345", "available_balance": "12.00",
                                                       "threshold": "30.00"})))


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("voucherctl: error: ")
    return lines[0]


def test_send_without_gateway_is_one_line_and_marks_nothing(cli, db):
    _add_messages(db)
    r = cli("outbox", "send")
    assert r.code == 1 and r.out == ""
    assert "no SMS gateway configured" in _one_error_line(r.err)
    with db.begin() as s:
        assert [m.attempts for m in s.execute(select(OutboxMessage)).scalars()] == [0]
        assert s.execute(select(OutboxMessage.next_attempt_at)).scalar_one() is None
    r = cli("outbox", "send", env={"VOUCHER_SMS_URL": "https://sms.example/send"})
    assert r.code == 1 and "VOUCHER_SMS_TOKEN" in _one_error_line(r.err)


def test_send_through_file_sink_then_list(cli, db, tmp_path):
    _add_messages(db)
    r = cli("outbox", "list", "--unsent", "--json", check=True)
    assert [(m["source"], m["kind"]) for m in r.json()["messages"]] == [
        ("outbox", "sms.sts_token"), ("metering", "low_balance_warning")]
    assert "5938" not in r.out  # the list never shows a message body
    sink = tmp_path / "sms.jsonl"
    r = cli("outbox", "send", "--json", env={"VOUCHER_SMS_SINK": str(sink)})
    assert r.code == 0, r.err
    assert {k: r.json()[k] for k in ("sent", "failed", "dead")} == {"sent": 2, "failed": 0, "dead": 0}
    assert "5938" not in r.err  # nor does the log
    texts = [json.loads(line)["text"] for line in sink.read_text("utf-8").splitlines()]
    assert "5938 6323 4721 3742 6967" in texts[0] and "12.00元" in texts[1]
    assert cli("outbox", "list", "--unsent", "--json", check=True).json() == {"messages": []}
    r = cli("outbox", "send", env={"VOUCHER_SMS_SINK": str(sink), "VOUCHER_SMS_LANG": "en"}, check=True)
    assert r.out.strip() == "sent 0, failed 0, dead 0"


def test_failing_gateway_exit_code_and_dead_list(cli, db):
    _add_messages(db)
    gateway = {"VOUCHER_SMS_URL": "http://127.0.0.1:9/sms", "VOUCHER_SMS_TOKEN": "secret-bearer"}
    r = cli("outbox", "send", "--json", "--limit", "1", env=gateway)
    assert r.code == 3 and r.json()["failed"] == 1 and r.json()["sent"] == 0
    assert "1 messages failed and 0 went dead" in _one_error_line(r.err)  # the summary only, as documented
    r = cli("-v", "outbox", "send", "--json", "--max-attempts", "1", env=gateway)  # the other one; the first waits
    assert r.code == 3 and r.json()["dead"] == 1
    assert "INFO vouchers.notify.outbox: metering message 1 (low_balance_warning) dead: " in r.err  # each one with -v
    assert r.err.splitlines()[-1].startswith("voucherctl: error: 0 messages failed and 1 went dead")
    dead = cli("outbox", "list", "--dead", "--json", check=True).json()["messages"]
    assert [(m["source"], m["attempts"], m["status"]) for m in dead] == [("metering", 1, "dead")]
    assert "unreachable" in dead[0]["last_error"] and "secret-bearer" not in json.dumps(dead)
    r = cli("outbox", "list", "--dead", check=True)
    assert r.out.startswith("metering:1 low_balance_warning")
    r = cli("outbox", "send", "--max-attempts", "0", env=gateway)
    assert r.code == 2 and "--max-attempts" in _one_error_line(r.err)


def test_idempotency_purge(cli, db):
    now = dt.datetime.now(dt.timezone.utc)
    with db.begin() as s:
        for key, state, age in [("a", "done", 10), ("b", "done", 3), ("c", "in_flight", 30)]:
            at = now - dt.timedelta(days=age)
            s.add(IdempotencyRecord(scope="web", key=key, fingerprint="f" * 64, state=state, created_at=at,
                                    updated_at=at))
    r = cli("idempotency", "purge", "--json", check=True)  # default: 7 days
    assert r.json()["deleted"] == 1 and r.json()["older_than_days"] == 7
    r = cli("idempotency", "purge", env={"VOUCHER_IDEMPOTENCY_RETENTION_DAYS": "2"}, check=True)
    assert r.out.startswith("deleted 1 idempotency records")
    with db.begin() as s:
        assert list(s.execute(select(IdempotencyRecord.key)).scalars()) == ["c"]
    r = cli("idempotency", "purge", "--older-than", "0")
    assert r.code == 2 and "--older-than" in _one_error_line(r.err)
    r = cli("idempotency", "purge", env={"VOUCHER_IDEMPOTENCY_RETENTION_DAYS": "soon"})
    assert r.code == 1 and "VOUCHER_IDEMPOTENCY_RETENTION_DAYS" in _one_error_line(r.err)


def test_uninitialised_database_is_one_line(cli, tmp_path):
    r = cli("outbox", "list", env={"VOUCHER_DATABASE_URL": f"sqlite:///{tmp_path / 'none.db'}"})
    assert r.code == 1 and "voucherctl init" in _one_error_line(r.err)


def test_big_backlog_shows_progress_on_stderr(cli, db, tmp_path):
    at = dt.datetime.now(dt.timezone.utc)
    payload = json.dumps({"account_no": "1", "available_balance": "3.00"})
    with db.begin() as s:
        s.add_all([MeteringNotification(kind="supply_restored", account_no="1", payload=payload, created_at=at,
                                        attempts=0) for _ in range(1000)])
    r = cli("outbox", "send", env={"VOUCHER_SMS_SINK": str(tmp_path / "sms.jsonl")}, check=True)
    assert r.out.strip() == "sent 1000, failed 0, dead 0"
    assert r.err.strip() == "outbox: 1000/1000 processed"
