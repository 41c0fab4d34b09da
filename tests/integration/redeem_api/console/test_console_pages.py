"""Console pages: batch review by a second person with step-up, the dashboard's figures, customer lookup (zh, en)."""
from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select

from issuer.batches import BatchRequest, create_batch
from tests.integration.redeem_api.console.conftest import login, token
from tests.integration.redeem_api.world import ACCOUNT_ARREARS, EXPIRES, PASSPHRASE, WEB_PASSPHRASE, auth, fresh_key
from tests.staff_helpers import code
from vouchers.books import chart
from vouchers.books.reports.liability import ledger_balance_as_of
from vouchers.storage.models import AuditEvent, Batch


def _draft(world, maker: str) -> str:
    return create_batch(world.sessions, world.store, PASSPHRASE,
                        BatchRequest(face_value=5000, count=2, expires=EXPIRES, currency="CNY", operator=maker),
                        web_passphrase=WEB_PASSPHRASE, now=world.now, today=world.now.date(), issuer_code=1,
                        max_count=1000).batch_id


def _batch(world, batch_id: str) -> Batch:
    with world.sessions.begin() as s:
        return s.execute(select(Batch).where(Batch.batch_id == batch_id)).scalar_one()


def _events(world, action: str) -> list[AuditEvent]:
    with world.sessions.begin() as s:
        return list(s.execute(select(AuditEvent).where(AuditEvent.action == action)).scalars())


def test_a_second_person_approves_with_a_fresh_code_and_the_maker_cannot(app, world, clock, staff):
    by_operator = _draft(world, staff["issuer_operator"].username)
    by_maker_approver = _draft(world, staff["maker_approver"].username)

    maker = app.test_client()
    login(maker, staff["maker_approver"], clock.now)
    html = maker.get("/console/batches?status=draft").get_data(as_text=True)
    assert f'/console/batches/{by_operator}/approve' in html  # someone else's draft: the form is there
    assert f'/console/batches/{by_maker_approver}/approve' not in html  # their own: no button ...
    refused = maker.post(f"/console/batches/{by_maker_approver}/approve", data={
        "csrf_token": token(maker), "totp": code(staff["maker_approver"].secret, clock.now, 1)})
    assert refused.status_code == 403 and "cannot approve" in refused.get_data(as_text=True)  # ... and the server
    assert _batch(world, by_maker_approver).status == "draft"

    operator = app.test_client()
    login(operator, staff["issuer_operator"], clock.now)
    assert f"/console/batches/{by_operator}/approve" not in operator.get("/console/batches").get_data(as_text=True)

    checker = app.test_client()
    login(checker, staff["approver"], clock.now)
    csrf = token(checker)
    replay = checker.post(f"/console/batches/{by_operator}/approve",
                          data={"csrf_token": csrf, "totp": code(staff["approver"].secret, clock.now)})
    assert replay.status_code == 403 and _batch(world, by_operator).status == "draft"  # the login's code is spent
    done = checker.post(f"/console/batches/{by_operator}/approve",
                        data={"csrf_token": csrf, "totp": code(staff["approver"].secret, clock.now, 1)})
    assert done.status_code == 303
    batch = _batch(world, by_operator)
    assert batch.status == "approved" and batch.approved_by == "approver"
    again = checker.post(f"/console/batches/{by_operator}/approve",
                         data={"csrf_token": csrf, "totp": code(staff["approver"].secret, clock.now, 1)})
    assert again.status_code == 403  # that code is used now too
    event = _events(world, "console.batch.approve")[-1]
    details = json.loads(event.details)
    assert event.actor == "approver" and details["staff_id"] > 0 and details["session_id"].startswith("s_")
    assert _events(world, "batch.approved")[-1].subject_id == by_operator

    second = app.test_client()
    login(second, staff["approver2"], clock.now)
    no_reason = second.post(f"/console/batches/{by_maker_approver}/reject",
                            data={"csrf_token": token(second), "totp": code(staff["approver2"].secret, clock.now, 1)})
    assert no_reason.status_code == 403 and _batch(world, by_maker_approver).status == "draft"
    rejected = second.post(f"/console/batches/{by_maker_approver}/reject", data={
        "csrf_token": token(second), "reason": "wrong face value",
        "totp": code(staff["approver2"].secret, clock.now, 1)})
    assert rejected.status_code == 303
    batch = _batch(world, by_maker_approver)
    assert batch.status == "void" and batch.void_reason == "wrong face value"


def test_dashboard_shows_the_ledger_liability_todays_redemptions_and_the_last_verify(app, client, world, clock,
                                                                                       staff):
    assert client.post("/api/v1/redemptions", json={"code": world.cards[0].code, "account_no": ACCOUNT_ARREARS},
                       headers=auth(world.keys["terminal"], fresh_key())).status_code == 201
    finance = app.test_client()
    login(finance, staff["finance"], clock.now)
    html = finance.get("/console/").get_data(as_text=True)
    with world.sessions.begin() as s:
        liability = ledger_balance_as_of(s, chart.VOUCHER_LIABILITY, "CNY", clock.now + dt.timedelta(seconds=1))
    assert liability == 7 * 10000 and f'data-minor="{liability}"' in html and "700.00 CNY" in html
    assert "今日充值（按渠道）" in html and "<td>terminal</td><td>1</td><td>100.00</td>" in html
    assert "<rect" in html and "从未" in html  # the chart; no ledger verify yet
    assert finance.post("/console/ledger-verify", data={"csrf_token": token(finance)}).status_code == 303
    english = finance.get("/console/?lang=en").get_data(as_text=True)
    assert "Redemptions today by channel" in english and 'id="last-verify"' in english and "passed" in english
    event = _events(world, "ledger.verify")[-1]
    assert event.to_state == "ok" and json.loads(event.details)["session_id"].startswith("s_")


def test_customer_service_finds_an_account_and_each_lookup_is_audited(app, world, clock, staff):
    agent = app.test_client()
    login(agent, staff["customer_service"], clock.now)
    found = agent.get("/console/customers?q=张三").get_data(as_text=True)
    assert ACCOUNT_ARREARS in found
    view = agent.get(f"/console/customers?account={ACCOUNT_ARREARS}&lang=en")
    html = view.get_data(as_text=True)
    assert view.status_code == 200 and "Arrears" in html and "30.00 CNY" in html
    assert agent.get("/console/customers?account=9999999999").status_code == 404
    assert agent.get("/console/customers?q=%25").get_data(as_text=True).count("<tr>") <= 1  # % is not a wildcard
    viewed = _events(world, "console.customer.view")
    assert [e.subject_id for e in viewed] == [ACCOUNT_ARREARS] and viewed[0].actor == "customer.service"
    assert json.loads(_events(world, "console.customer.search")[0].details)["query"] == "张三"
