"""Customer service, fraud, audit and admin pages: each calls the CLI's service, is audited, keeps roles apart."""
from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select

from tests.integration.redeem_api.console.conftest import login, token
from tests.integration.redeem_api.world import ACCOUNT_CLEAN, auth, fresh_key
from tests.integration.services.fraud_support import only, redeem_card
from tests.integration.vending.conftest import PAN, with_keypad_meter
from tests.staff_helpers import GOOD_PASSWORD, code
from vouchers.metering.config import MeteringConfig
from vouchers.services.clients import authenticate
from vouchers.services.deps import ServiceDeps, built_once
from vouchers.services.throttle import Limit, account_key
from vouchers.staff import accounts
from vouchers.storage.api_models import FraudCase, FraudHold
from vouchers.storage.models import AuditEvent
from vouchers.storage.sts_models import StsVend
from vouchers.tariffs import load_catalog
from vouchers.vending.keys import software_backend

HOUR = dt.timedelta(hours=1)


def _events(world, action: str) -> list[AuditEvent]:
    with world.sessions.begin() as s:
        return list(s.execute(select(AuditEvent).where(AuditEvent.action == action)).scalars())


def _details(event: AuditEvent) -> dict:
    return json.loads(event.details)


def test_customer_service_sees_the_tokens_and_reprints_the_last_receipt(app, world, clock, staff):
    with_keypad_meter(world, world.now)
    redeemed = app.test_client().post("/api/v1/redemptions",
                                      json={"code": world.cards[0].code, "account_no": ACCOUNT_CLEAN},
                                      headers=auth(world.keys["terminal"], fresh_key()))
    assert redeemed.status_code == 201, redeemed.get_json()
    token_digits = redeemed.get_json()["sts"]["token"].replace(" ", "")
    client = app.test_client()
    login(client, staff["customer_service"], clock.now)
    account = client.get(f"/console/customers?account={ACCOUNT_CLEAN}").get_data(as_text=True)
    assert f"/console/service/accounts/{ACCOUNT_CLEAN}/tokens" in account
    page = client.get(f"/console/service/accounts/{ACCOUNT_CLEAN}/tokens?lang=en").get_data(as_text=True)
    assert token_digits in page and f"/console/service/meters/{PAN}/reprint" in page
    receipt = client.post(f"/console/service/meters/{PAN}/reprint", data={"csrf_token": token(client)})
    assert receipt.status_code == 200 and receipt.data[:4] == b"%PDF", receipt.get_data(as_text=True)[:300]
    assert receipt.headers["Content-Disposition"].startswith("attachment;")
    with world.sessions.begin() as s:
        assert s.execute(select(StsVend.reprints)).scalar_one() == 1  # the same token, counted; no new credit
    [reprint] = _events(world, "sts.reprint")
    assert reprint.actor == "customer.service"
    assert _details(_events(world, "console.sts.reprint")[0])["session_id"]
    assert client.post("/console/service/meters/600727999999999999/reprint",
                       data={"csrf_token": token(client)}).status_code == 404
    # a fraud analyst looks at cards, not at tokens
    analyst = app.test_client()
    login(analyst, staff["fraud_analyst"], clock.now)
    assert analyst.get(f"/console/service/accounts/{ACCOUNT_CLEAN}/tokens").status_code == 403


def test_a_cards_history_by_serial(app, world, clock, staff):
    card = world.cards[0]
    client = app.test_client()
    login(client, staff["customer_service"], clock.now)
    html = client.get(f"/console/service/cards?serial={card.serial}&lang=en").get_data(as_text=True)
    assert f'id="card" data-status="active"' in html and world.batch_id in html
    assert 'data-action="batch.approved"' in html  # the batch's events belong to the card's history
    missing = client.get("/console/service/cards?serial=0000000000000000")
    assert missing.status_code == 404 and 'id="no-results"' in missing.get_data(as_text=True)
    assert [e.subject_id for e in _events(world, "console.card.view")] == [card.serial, "0000000000000000"]


def test_lifting_a_lockout_takes_a_reason_and_is_audited(app, world, clock, staff):
    from redeem_api.state import EXTENSION

    st = app.extensions[EXTENSION]
    web_key = account_key(ACCOUNT_CLEAN, "web")
    limit = st.config.throttle.limit_of(web_key)
    with world.sessions.begin() as s:
        for _ in range(limit):
            st.throttle.record_failure(s, [Limit(web_key, limit)], clock.now)
    client = app.test_client()
    login(client, staff["customer_service"], clock.now)
    page = client.get("/console/service/lockouts").get_data(as_text=True)
    assert f'data-subject="{web_key}" data-locked="yes"' in page
    no_reason = client.post("/console/service/lockouts/unlock", data={
        "csrf_token": token(client), "kind": "account", "subject": ACCOUNT_CLEAN, "reason": " "})
    assert no_reason.status_code == 400 and f'data-subject="{web_key}"' in no_reason.get_data(as_text=True)
    done = client.post("/console/service/lockouts/unlock", data={
        "csrf_token": token(client), "kind": "account", "subject": ACCOUNT_CLEAN, "reason": "customer called"})
    assert done.status_code == 303
    assert f'data-subject="{web_key}"' not in client.get("/console/service/lockouts").get_data(as_text=True)
    [event] = _events(world, "throttle.unlock")
    assert (event.actor, event.subject_id, event.reason) == ("customer.service", ACCOUNT_CLEAN, "customer called")
    assert _details(_events(world, "console.unlock")[0])["session_id"]


def test_a_fraud_analyst_releases_a_hold_and_closes_the_case(app, world, clock, staff):
    deps = ServiceDeps(catalog=load_catalog(), metering=MeteringConfig(),
                       vending=built_once(lambda: software_backend(world.store, "unused")))
    held = redeem_card(world, only(deps, account_cards=0, account_amount=0,
                                   hold=("velocity.account_cards", "velocity.account_amount")),
                       world.cards[1], world.now)
    assert held.held
    with world.sessions.begin() as s:
        case_id = s.execute(select(FraudCase.id)).scalars().first()
    client = app.test_client()
    login(client, staff["fraud_analyst"], clock.now)
    assert f'id="hold-{held.redemption_id}" data-status="held"' in client.get("/console/fraud/holds").get_data(
        as_text=True)
    assert client.post(f"/console/fraud/holds/{held.redemption_id}/release", data={
        "csrf_token": token(client), "to": "source", "reason": ""}).status_code == 400
    assert client.post("/console/fraud/holds/NOSUCH/release", data={
        "csrf_token": token(client), "to": "source", "reason": "x"}).status_code == 404
    done = client.post(f"/console/fraud/holds/{held.redemption_id}/release", data={
        "csrf_token": token(client), "to": "source", "reason": "stolen card"})
    assert done.status_code == 303
    with world.sessions.begin() as s:
        hold = s.execute(select(FraudHold).where(FraudHold.hold_id == held.redemption_id)).scalar_one()
        assert (hold.status, hold.resolved_by) == ("returned", "fraud.analyst")
    cases = client.get("/console/fraud/cases").get_data(as_text=True)
    assert f'id="case-{case_id}" data-status="open"' in cases
    shown = client.get(f"/console/fraud/cases/{case_id}?lang=en").get_data(as_text=True)
    assert 'id="close-case"' in shown and held.redemption_id in shown
    assert client.post(f"/console/fraud/cases/{case_id}/close", data={
        "csrf_token": token(client), "verdict": "fraud", "note": ""}).status_code == 400
    assert client.post(f"/console/fraud/cases/{case_id}/close", data={
        "csrf_token": token(client), "verdict": "fraud", "note": "card reported stolen"}).status_code == 303
    with world.sessions.begin() as s:
        case = s.get(FraudCase, case_id)
        assert (case.status, case.verdict, case.closed_by) == ("closed", "fraud", "fraud.analyst")
    assert client.get("/console/fraud/cases/999999").status_code == 404
    assert _details(_events(world, "console.fraud.case_close")[0])["session_id"]


def test_audit_verify_now_and_the_event_log(app, world, clock, staff):
    client = app.test_client()
    login(client, staff["admin"], clock.now)
    page = client.post("/console/audit/verify", data={"csrf_token": token(client)}).get_data(as_text=True)
    assert 'id="chain-result" data-ok="yes"' in page and 'id="books-result" data-ok="yes"' in page
    # filters: by actor, by action prefix
    mine = client.get("/console/audit?actor=admin").get_data(as_text=True)
    assert 'data-action="staff.login"' in mine and 'data-action="batch.created"' not in mine
    staff_only = client.get("/console/audit?action=staff.").get_data(as_text=True)
    assert 'data-action="staff.create"' in staff_only and 'data-action="audit.verify"' not in staff_only
    # an event altered behind the chain's back is found
    with world.sessions.begin() as s:
        event = s.execute(select(AuditEvent).where(AuditEvent.action == "staff.create")).scalars().first()
        event.reason = "edited"
    page = client.post("/console/audit/verify", data={"csrf_token": token(client)}).get_data(as_text=True)
    assert 'id="chain-result" data-ok="no"' in page and f"#{event.id}:" in page
    assert [e.to_state for e in _events(world, "audit.verify")] == ["ok", "problems"]


def test_admin_creates_and_disables_staff_and_a_2fa_reset_takes_two_people(app, world, clock, staff):
    admin = app.test_client()
    login(admin, staff["admin"], clock.now)
    short = admin.post("/console/admin/staff", data={"csrf_token": token(admin), "username": "newbie",
                                                    "role": "finance", "password": "short"})
    assert short.status_code == 400
    made = admin.post("/console/admin/staff", data={"csrf_token": token(admin), "username": "newbie",
                                                   "role": ["finance", "customer_service"],
                                                   "password": GOOD_PASSWORD})
    html = made.get_data(as_text=True)
    assert made.status_code == 201 and 'id="totp-secret"' in html and "otpauth://" in html
    secret = html.split('id="totp-secret" class="token">')[1].split("<")[0]
    assert secret not in admin.get("/console/admin/staff").get_data(as_text=True)  # shown once
    newbie = app.test_client()
    login(newbie, type(staff["finance"])("newbie", secret), clock.now)  # the new person can sign in with it

    # reset-2fa: the admin requests, a different approver approves with a fresh code
    assert admin.post("/console/admin/staff/newbie/reset-2fa", data={"csrf_token": token(admin)}).status_code == 303
    assert admin.post("/console/admin/staff/admin/reset-2fa", data={"csrf_token": token(admin)}).status_code == 403
    checker = app.test_client()
    login(checker, staff["approver"], clock.now)
    assert checker.post("/console/admin/staff/newbie/reset-2fa/approve", data={
        "csrf_token": token(checker), "totp": code(staff["approver"].secret, clock.now)}).status_code == 403  # replay
    with world.sessions.begin() as s:
        assert accounts.get_staff(s, "newbie").reset_requested_by == "admin"  # nothing changed
    approved = checker.post("/console/admin/staff/newbie/reset-2fa/approve", data={
        "csrf_token": token(checker), "totp": code(staff["approver"].secret, clock.now, 1)})
    new_html = approved.get_data(as_text=True)
    assert approved.status_code == 200 and 'id="totp-secret"' in new_html and secret not in new_html
    assert newbie.get("/console/").status_code == 303  # the subject's sessions ended
    # an admin who requested cannot approve (the admin role alone is not an approver either)
    assert admin.post("/console/admin/staff/newbie/reset-2fa/approve", data={
        "csrf_token": token(admin), "totp": code(staff["admin"].secret, clock.now, 1)}).status_code == 403

    assert admin.post("/console/admin/staff/newbie/disable", data={"csrf_token": token(admin),
                                                                  "reason": ""}).status_code == 400
    assert admin.post("/console/admin/staff/newbie/disable", data={"csrf_token": token(admin),
                                                                  "reason": "left"}).status_code == 303
    assert admin.post("/console/admin/staff/admin/disable", data={"csrf_token": token(admin),
                                                                 "reason": "x"}).status_code == 400
    with world.sessions.begin() as s:
        assert accounts.get_staff(s, "newbie").disabled
    for action in ("console.staff.create", "console.staff.reset_2fa.request", "console.staff.reset_2fa.approve",
                   "console.staff.disable"):
        assert len(_events(world, action)) == 1, action


def test_admin_creates_an_api_client_whose_key_is_shown_once_and_revokes_it(app, world, clock, staff):
    admin = app.test_client()
    login(admin, staff["admin"], clock.now)
    foreign = app.test_client()
    login(foreign, staff["finance"], clock.now)
    for data in ({}, {"csrf_token": token(foreign)}):  # a missing or another session's token: nothing made
        refused = admin.post("/console/admin/clients", data={**data, "name": "Till 8", "role": "terminal"})
        assert refused.status_code == 403 and 'data-code="csrf_failed"' in refused.get_data(as_text=True)
    made = admin.post("/console/admin/clients", data={"csrf_token": token(admin), "name": "Till 9",
                                                     "role": "terminal"})
    html = made.get_data(as_text=True)
    assert made.status_code == 201
    key = html.split('id="api-key" class="token">')[1].split("<")[0]
    client_id = key.split(".")[0]
    assert key not in admin.get("/console/admin/clients").get_data(as_text=True)
    with world.sessions.begin() as s:
        assert authenticate(s, key) is not None
    assert admin.post("/console/admin/clients", data={"csrf_token": token(admin), "name": "x",
                                                     "role": "channel"}).status_code == 400
    assert admin.post(f"/console/admin/clients/{client_id}/revoke",
                      data={"csrf_token": token(admin)}).status_code == 303
    with world.sessions.begin() as s:
        assert authenticate(s, key) is None
    assert admin.post(f"/console/admin/clients/{client_id}/revoke",
                      data={"csrf_token": token(admin)}).status_code == 409
    assert [e.actor for e in _events(world, "api_client.revoke")] == ["admin"]
