from __future__ import annotations

import datetime as dt
import json
import threading
import time

import pytest
from sqlalchemy import select

from vouchers.notify import outbox
from vouchers.notify.errors import GatewayError
from vouchers.notify.gateway import FileSink, SmsMessage
from vouchers.storage.api_models import OutboxMessage
from vouchers.storage.metering_models import MeteringNotification

TOKEN = "59386323472137426967"


def _redeemed(account_no: str = "3300012345") -> str:
    return json.dumps({"template": "voucher_redeemed", "serial": "01-000001-0000001-3", "amount": "100.00",
                       "currency": "CNY", "account_no": account_no, "applied_to_arrears": "0.00",
                       "credited_to_balance": "100.00", "balance": "100.00"})


def _sts() -> str:
    return json.dumps({"template": "sts_token", "payment_id": "P1", "amount": "50.00", "currency": "CNY",
                       "sts": {"token": "5938 6323 4721 3742 6967", "kwh": "90.1", "kind": "credit"}})


def _add(sessions, now, *, outbox_rows=(), metering_rows=()):
    with sessions.begin() as s:
        for kind, payload in outbox_rows:
            s.add(OutboxMessage(kind=kind, account_no="3300012345", payload=payload, created_at=now, attempts=0))
        for kind, payload in metering_rows:
            s.add(MeteringNotification(kind=kind, account_no="3300012345", payload=json.dumps(payload),
                                       created_at=now, attempts=0))


class Recorder:
    def __init__(self, fail: bool = False, delay: float = 0.0) -> None:
        self.fail, self.delay, self.sent, self.lock = fail, delay, [], threading.Lock()

    def send(self, message: SmsMessage) -> None:
        if self.delay:
            time.sleep(self.delay)
        if self.fail:
            raise GatewayError("gateway answered HTTP 503")
        with self.lock:
            self.sent.append(message)


def _row(sessions, model, row_id):
    with sessions.begin() as s:
        s.expire_on_commit = False
        return s.execute(select(model).where(model.id == row_id)).scalar_one()


def test_send_both_outboxes_through_file_sink(sessions, now, tmp_path):
    _add(sessions, now, outbox_rows=[("sms.voucher_redeemed", _redeemed()), ("sms.sts_token", _sts())],
         metering_rows=[("low_balance_warning", {"account_no": "3300012345", "available_balance": "12.00",
                                                 "threshold": "30.00"})])
    sink = tmp_path / "sms.jsonl"
    result = outbox.send_due(sessions, FileSink(sink), clock=lambda: now)
    assert (result.sent, result.failed, result.dead) == (3, 0, 0)
    assert result.by_source == {"outbox": {"sent": 2, "failed": 0, "dead": 0},
                                "metering": {"sent": 1, "failed": 0, "dead": 0}}
    lines = [json.loads(x) for x in sink.read_text("utf-8").splitlines()]
    assert [x["idempotency_id"] for x in lines] == ["om-1", "om-2", "mn-1"]
    assert "5938 6323 4721 3742 6967" in lines[1]["text"] and "100.00元" in lines[0]["text"]
    assert _row(sessions, OutboxMessage, 1).sent_at == now
    assert _row(sessions, MeteringNotification, 1).sent_at == now
    # nothing due any more: a second run sends nothing
    assert outbox.send_due(sessions, FileSink(sink), clock=lambda: now + dt.timedelta(days=1)).sent == 0
    assert len(sink.read_text("utf-8").splitlines()) == 3
    with sessions.begin() as s:
        assert outbox.list_messages(s, status="unsent") == []
        assert {m.status for m in outbox.list_messages(s)} == {"sent"}


def test_english_and_limit(sessions, now):
    _add(sessions, now, outbox_rows=[("sms.voucher_redeemed", _redeemed())] * 5)
    gateway = Recorder()
    assert outbox.send_due(sessions, gateway, clock=lambda: now, lang="en", limit=2, batch_size=1).sent == 2
    assert [m.idempotency_id for m in gateway.sent] == ["om-1", "om-2"]
    assert gateway.sent[0].text.startswith("[Electricity]") and gateway.sent[0].lang == "en"
    with sessions.begin() as s:
        assert len(outbox.list_messages(s, status="unsent")) == 3


def test_failures_back_off_then_go_dead(sessions, now):
    _add(sessions, now, outbox_rows=[("sms.sts_token", _sts())])
    failing = Recorder(fail=True)
    first = outbox.send_due(sessions, failing, clock=lambda: now, max_attempts=3)
    assert (first.sent, first.failed, first.dead) == (0, 1, 0)
    row = _row(sessions, OutboxMessage, 1)
    assert row.attempts == 1 and row.next_attempt_at == now + dt.timedelta(minutes=1)
    assert row.last_error == "sms_gateway_error: gateway answered HTTP 503" and row.sent_at is None
    assert TOKEN[:4] not in row.last_error
    # not due before its backoff ends
    assert outbox.send_due(sessions, failing, clock=lambda: now + dt.timedelta(seconds=59), max_attempts=3).failed == 0
    second = now + dt.timedelta(minutes=1)
    assert outbox.send_due(sessions, failing, clock=lambda: second, max_attempts=3).failed == 1
    row = _row(sessions, OutboxMessage, 1)
    assert row.attempts == 2 and row.next_attempt_at == second + dt.timedelta(minutes=2)
    third = second + dt.timedelta(minutes=2)
    assert outbox.send_due(sessions, failing, clock=lambda: third, max_attempts=3).dead == 1
    row = _row(sessions, OutboxMessage, 1)
    assert row.attempts == 3 and row.dead_at == third and row.next_attempt_at is None and row.sent_at is None
    with sessions.begin() as s:
        (dead,) = outbox.list_messages(s, status="dead")
        assert (dead.source, dead.id, dead.status) == ("outbox", 1, "dead")
        assert outbox.list_messages(s, status="unsent") == []
    # dead is final: a working gateway later does not send it
    assert outbox.send_due(sessions, Recorder(), clock=lambda: third + dt.timedelta(days=1)).sent == 0


def test_the_clock_is_read_for_every_claim_and_outcome(sessions, now):
    _add(sessions, now, outbox_rows=[("sms.sts_token", _sts())] * 2)
    ticks = iter(range(100))
    clock = lambda: now + dt.timedelta(minutes=next(ticks))  # noqa: E731  (a long run: time moves on)
    assert outbox.send_due(sessions, Recorder(fail=True), clock=clock, batch_size=1).failed == 2
    # claim 1 at +0, outcome 1 at +1, claim 2 at +2, outcome 2 at +3: backoff counts from each outcome
    assert _row(sessions, OutboxMessage, 1).next_attempt_at == now + dt.timedelta(minutes=1 + 1)
    assert _row(sessions, OutboxMessage, 2).next_attempt_at == now + dt.timedelta(minutes=3 + 1)


def test_retry_after_failure_keeps_the_idempotency_id(sessions, now):
    _add(sessions, now, metering_rows=[("supply_restored", {"account_no": "1", "available_balance": "3.00"})])
    assert outbox.send_due(sessions, Recorder(fail=True), clock=lambda: now).failed == 1
    ok = Recorder()
    assert outbox.send_due(sessions, ok, clock=lambda: now + dt.timedelta(minutes=1)).sent == 1
    assert [m.idempotency_id for m in ok.sent] == ["mn-1"]
    assert _row(sessions, MeteringNotification, 1).attempts == 2


def test_unrenderable_message_is_dead_at_once(sessions, now):
    _add(sessions, now, outbox_rows=[("sms.mystery", json.dumps({"x": 1})), ("sms.voucher_redeemed", _redeemed())])
    gateway = Recorder()
    result = outbox.send_due(sessions, gateway, clock=lambda: now)
    assert (result.sent, result.dead) == (1, 1)
    row = _row(sessions, OutboxMessage, 1)
    assert row.dead_at == now and row.last_error.startswith("sms_render_error")


def test_a_claimed_message_is_leased_until_the_lease_ends(sessions, now):
    _add(sessions, now, outbox_rows=[("sms.voucher_redeemed", _redeemed())])
    with sessions.begin() as s:
        assert [c.id for c in outbox.claim(s, "outbox", now=now, limit=10)] == [1]
    with sessions.begin() as s:  # another sender meanwhile: nothing to take
        assert outbox.claim(s, "outbox", now=now + dt.timedelta(minutes=4), limit=10) == []
    # the first sender died: after the lease the message goes out again
    gateway = Recorder()
    assert outbox.send_due(sessions, gateway, clock=lambda: now + outbox.DEFAULT_LEASE).sent == 1
    assert [m.idempotency_id for m in gateway.sent] == ["om-1"]


@pytest.mark.parametrize("db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_two_concurrent_senders_send_each_message_once(sessions, now):
    rows = 60
    _add(sessions, now, outbox_rows=[("sms.voucher_redeemed", _redeemed())] * rows,
         metering_rows=[("supply_restored", {"account_no": "1", "available_balance": "3.00"})] * 10)
    gateway = Recorder(delay=0.002)
    results, start = [], threading.Barrier(2)

    def run() -> None:
        start.wait()
        results.append(outbox.send_due(sessions, gateway, clock=lambda: now, batch_size=4))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    ids = [m.idempotency_id for m in gateway.sent]
    assert len(ids) == rows + 10 and len(set(ids)) == rows + 10
    assert sum(r.sent for r in results) == rows + 10
    assert all(r.sent > 0 for r in results)  # both really worked, side by side
