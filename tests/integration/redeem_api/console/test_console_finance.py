"""Finance in the console: reconcile a settlement file, reports with CSV/PDF downloads, reversals by two people."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from sqlalchemy import select

from tests.integration.redeem_api.console.conftest import Person, login, token
from tests.integration.redeem_api.world import ACCOUNT_ARREARS, ACCOUNT_CLEAN, WEB_PASSPHRASE
from tests.staff_helpers import GOOD_PASSWORD, code
from vouchers.books import chart
from vouchers.books.accounts import balance
from vouchers.books.payments import get_payment, post_payment
from vouchers.staff import accounts, roles
from vouchers.staff.totp import seal_key
from vouchers.storage.ledger_models import Payment
from vouchers.storage.models import AuditEvent
from vouchers.storage.staff_models import ApprovalRequest

HEADER = "external_ref,account_no,amount,currency,paid_at\n"


@pytest.fixture
def booked(world):
    """wechat_pay payments W1..W4 on the world's day; W5 on counter_cash (to reverse)."""
    paid = world.now - dt.timedelta(hours=1)
    with world.sessions.begin() as s:
        for ref, account, amount in (("W1", ACCOUNT_CLEAN, 1000), ("W2", ACCOUNT_CLEAN, 2000),
                                     ("W3", ACCOUNT_ARREARS, 3000), ("W4", ACCOUNT_CLEAN, 4000)):
            post_payment(s, "wechat_pay", account, amount, ref, paid, world.now)
        post_payment(s, "counter_cash", ACCOUNT_CLEAN, 5000, "C5", paid, world.now)
    return paid


@pytest.fixture
def fin_approver(world) -> Person:
    """Someone holding both finance and approver: still cannot confirm what they proposed."""
    with world.sessions.begin() as s:
        enrolment = accounts.create_staff(s, username="fin.approver", roles=[roles.FINANCE, roles.APPROVER],
                                          password=GOOD_PASSWORD, seal_key=seal_key(world.store.pepper(WEB_PASSPHRASE)),
                                          now=world.now, actor="setup")
    return Person("fin.approver", enrolment.totp_secret)


def _payment(world, channel: str, ref: str) -> Payment:
    with world.sessions.begin() as s:
        found = get_payment(s, channel, ref)
        s.expunge(found)
        return found


def _events(world, action: str) -> list[AuditEvent]:
    with world.sessions.begin() as s:
        return list(s.execute(select(AuditEvent).where(AuditEvent.action == action)).scalars())


def test_a_reversal_needs_a_second_person_with_a_fresh_code(app, world, clock, staff, booked, fin_approver):
    payment = _payment(world, "counter_cash", "C5")
    proposer = app.test_client()
    login(proposer, fin_approver, clock.now)
    done = proposer.post("/console/finance/reversals", data={
        "csrf_token": token(proposer), "channel": "counter_cash", "external_ref": "C5", "reason": "paid twice"})
    assert done.status_code == 303 and "done=proposed" in done.headers["Location"]
    with world.sessions.begin() as s:
        request = s.execute(select(ApprovalRequest)).scalar_one()
        request_id, requested_by = request.id, request.requested_by
    assert requested_by == "fin.approver"
    # a second proposal for the same payment is refused while one is pending
    again = proposer.post("/console/finance/reversals", data={
        "csrf_token": token(proposer), "payment_id": str(payment.id), "reason": "again"})
    assert again.status_code == 400 and "pending" in again.get_data(as_text=True)

    # the proposer holds the approver role too, and types a fresh code: refused, nothing booked
    page = proposer.get("/console/finance/reversals").get_data(as_text=True)
    assert f"/console/finance/reversals/{request_id}/confirm" not in page  # no button for their own request ...
    own = proposer.post(f"/console/finance/reversals/{request_id}/confirm", data={
        "csrf_token": token(proposer), "totp": code(fin_approver.secret, clock.now, 1)})
    assert own.status_code == 403 and "second person" in own.get_data(as_text=True)  # ... and the server refuses
    assert _payment(world, "counter_cash", "C5").status == "booked"

    checker = app.test_client()
    login(checker, staff["approver"], clock.now)
    html = checker.get("/console/finance/reversals?lang=en").get_data(as_text=True)
    assert f"/console/finance/reversals/{request_id}/confirm" in html and "paid twice" in html
    replay = checker.post(f"/console/finance/reversals/{request_id}/confirm", data={
        "csrf_token": token(checker), "totp": code(staff["approver"].secret, clock.now)})  # the login's code
    assert replay.status_code == 403 and _payment(world, "counter_cash", "C5").status == "booked"
    with world.sessions.begin() as s:
        before = balance(s, chart.customer_prepaid(ACCOUNT_CLEAN), "CNY")
    confirmed = checker.post(f"/console/finance/reversals/{request_id}/confirm", data={
        "csrf_token": token(checker), "totp": code(staff["approver"].secret, clock.now, 1)})
    assert confirmed.status_code == 303, confirmed.get_data(as_text=True)[:500]
    assert _payment(world, "counter_cash", "C5").status == "reversed"
    with world.sessions.begin() as s:
        assert balance(s, chart.customer_prepaid(ACCOUNT_CLEAN), "CNY") == before + 5000  # a credit (liability) balance: 50.00 less owed to the customer
        row = s.get(ApprovalRequest, request_id)
        assert (row.status, row.decided_by, row.requested_by) == ("approved", "approver", "fin.approver")
        assert row.result and int(row.result) > 0
    # confirming twice does nothing more
    twice = checker.post(f"/console/finance/reversals/{request_id}/confirm", data={
        "csrf_token": token(checker), "totp": code(staff["approver"].secret, clock.now, 2)})
    assert twice.status_code == 409
    # audited: who proposed and who confirmed, each with staff id and session id; the books' own event too
    proposed, confirmed_events = _events(world, "payment.reversal.propose"), _events(world, "payment.reversal.confirm")
    assert [e.actor for e in proposed] == ["fin.approver"] and [e.actor for e in confirmed_events] == ["approver"]
    details = json.loads(confirmed_events[0].details)
    assert details["requested_by"] == "fin.approver" and details["session_id"] and details["staff_id"]
    assert [e.actor for e in _events(world, "payment.reverse")] == ["approver"]
    recent = checker.get("/console/finance/reversals").get_data(as_text=True)
    assert f'id="recent-{request_id}" data-status="approved"' in recent


def test_a_reversal_request_can_be_rejected_and_roles_are_kept_apart(app, world, clock, staff, booked):
    payment = _payment(world, "wechat_pay", "W1")
    approver = app.test_client()
    login(approver, staff["approver"], clock.now)
    refused = approver.post("/console/finance/reversals", data={  # an approver does not propose
        "csrf_token": token(approver), "payment_id": str(payment.id), "reason": "x"})
    assert refused.status_code == 403
    finance = app.test_client()
    login(finance, staff["finance"], clock.now)
    no_token = finance.post("/console/finance/reversals", data={"payment_id": str(payment.id), "reason": "x"})
    assert no_token.status_code == 403 and 'data-code="csrf_failed"' in no_token.get_data(as_text=True)
    for data, expect in (({"payment_id": str(payment.id), "reason": ""}, "reason is required"),
                         ({"payment_id": "999999", "reason": "r"}, "no payment 999999"),
                         ({"channel": "wechat_pay", "external_ref": "NOPE", "reason": "r"}, "give a payment id")):
        response = finance.post("/console/finance/reversals", data={"csrf_token": token(finance), **data})
        assert response.status_code in (400, 404) and expect in response.get_data(as_text=True), data
    assert finance.post("/console/finance/reversals", data={
        "csrf_token": token(finance), "payment_id": str(payment.id), "reason": "wrong account"}).status_code == 303
    with world.sessions.begin() as s:
        request_id = s.execute(select(ApprovalRequest.id)).scalar_one()
    # finance cannot confirm (not an approver), whoever proposed
    assert finance.post(f"/console/finance/reversals/{request_id}/confirm", data={
        "csrf_token": token(finance), "totp": code(staff["finance"].secret, clock.now, 1)}).status_code == 403
    no_reason = approver.post(f"/console/finance/reversals/{request_id}/reject", data={
        "csrf_token": token(approver), "totp": code(staff["approver"].secret, clock.now, 1)})
    assert no_reason.status_code == 409
    rejected = approver.post(f"/console/finance/reversals/{request_id}/reject", data={
        "csrf_token": token(approver), "reason": "the account is right", "totp": code(staff["approver"].secret,
                                                                                      clock.now, 1)})
    assert rejected.status_code == 303
    assert _payment(world, "wechat_pay", "W1").status == "booked"
    with world.sessions.begin() as s:
        row = s.get(ApprovalRequest, request_id)
        assert (row.status, row.decided_by, row.decision_reason) == ("rejected", "approver", "the account is right")
    assert [e.actor for e in _events(world, "payment.reversal.reject")] == ["approver"]


def _upload(client, body: str, *, channel: str = "wechat_pay", name: str = "settle.csv", **extra):
    return client.post("/console/finance/reconcile", content_type="multipart/form-data", data={
        "csrf_token": token(client), "channel": channel, "format": "generic",
        "file": (io.BytesIO((HEADER + body).encode("utf-8")), name), **extra})


def test_reconcile_an_uploaded_settlement_file(app, world, clock, staff, booked):
    day = world.now.date().isoformat()
    body = (f"W1,{ACCOUNT_CLEAN},10.00,CNY,{day}T09:00:00+08:00\n"
            f"W2,{ACCOUNT_CLEAN},20.01,CNY,{day}T09:00:00+08:00\n"
            f"W3,{ACCOUNT_CLEAN},30.00,CNY,{day}T09:00:00+08:00\n"
            f"W9,{ACCOUNT_CLEAN},90.00,CNY,{day}T09:00:00+08:00\n")
    client = app.test_client()
    login(client, staff["finance"], clock.now)
    form = client.get("/console/finance/reconcile?lang=en").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in form and 'name="csrf_token"' in form
    done = _upload(client, body)
    html = done.get_data(as_text=True)
    assert done.status_code == 200, html[:800]
    assert '<dd id="matched">1</dd>' in html
    for key, refs in (("amount_mismatch", ["W2"]), ("account_mismatch", ["W3"]), ("missing_in_books", ["W9"]),
                      ("missing_in_file", ["W4"])):
        section = html.split(f'<ul id="{key}" class="refs">')[1].split("</ul>")[0]
        assert [ref for ref in refs if f"<li>{ref}</li>" in section] == refs, (key, section)
    assert _payment(world, "wechat_pay", "W1").reconciliation_id is not None  # settled once, as the CLI does
    assert [e.actor for e in _events(world, "console.reconcile")] == ["finance"]
    # again with the CSV: the line-by-line report, UTF-8 with a BOM, the CLI's columns
    report = _upload(client, body, csv="1")
    assert report.status_code == 200 and report.headers["Content-Disposition"].startswith("attachment;")
    assert report.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(report.data.decode("utf-8-sig"))))
    assert rows[0] == ["status", "external_ref", "account_no", "file_amount", "book_amount", "paid_at", "fee"]
    assert {(r[0], r[1]) for r in rows[1:]} >= {("matched", "W1"), ("amount_mismatch", "W2"),
                                                ("missing_in_books", "W9"), ("missing_in_file", "W4")}


def test_a_malformed_settlement_file_shows_each_bad_line_and_settles_nothing(app, world, clock, staff, booked):
    client = app.test_client()
    login(client, staff["finance"], clock.now)
    day = world.now.date().isoformat()
    response = _upload(client, f"W1,{ACCOUNT_CLEAN},10.00,CNY,{day}T09:00:00+08:00\n"
                               f"W2,{ACCOUNT_CLEAN},ten,CNY,{day}T09:00:00+08:00\n")
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="rejected"' in html and "<td>3</td>" in html
    assert _payment(world, "wechat_pay", "W1").reconciliation_id is None
    unknown = _upload(client, "", channel="nosuch")
    assert unknown.status_code == 400 and "unknown channel" in unknown.get_data(as_text=True)
    # only finance reconciles
    other = app.test_client()
    login(other, staff["customer_service"], clock.now)
    assert _upload(other, "").status_code == 403


def test_reports_show_and_download_csv_and_pdf(app, world, clock, staff, booked):
    client = app.test_client()
    login(client, staff["finance"], clock.now)
    today = world.now.date()
    close = client.get(f"/console/finance/reports?report=daily_close&day={today}&lang=en")
    html = close.get_data(as_text=True)
    assert close.status_code == 200 and 'id="daily-close"' in html and "wechat_pay" in html
    assert "100.00" in html  # W1..W4: 10 + 20 + 30 + 40 on wechat_pay
    data = client.get(f"/console/finance/reports?report=daily_close&day={today}&download=csv")
    assert data.headers["Content-Disposition"] == f'attachment; filename="daily-close-{today}.csv"'
    assert data.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.data.decode("utf-8-sig"))))
    assert rows[0] == ["section", "item", "count", "amount"]
    assert ["channel_money_in", "wechat_pay", "4", "100.00"] in rows
    pdf = client.get(f"/console/finance/reports?report=daily_close&day={today}&download=pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF") and pdf.mimetype == "application/pdf"

    liability = client.get(f"/console/finance/reports?report=liability&as_of={today}").get_data(as_text=True)
    assert f'<td>{world.batch_id}</td>' in liability
    rows = list(csv.reader(io.StringIO(client.get(
        f"/console/finance/reports?report=liability&as_of={today}&download=csv").data.decode("utf-8-sig"))))
    assert rows[0] == ["batch_id", "face_value", "active_count", "liability"]
    assert rows[1][0] == world.batch_id and rows[1][2] == str(world.active)
    assert client.get(f"/console/finance/reports?report=liability&as_of={today}&download=pdf").data[:4] == b"%PDF"

    month = f"{today:%Y-%m}"
    assert 'id="collection"' in client.get(f"/console/finance/reports?report=collection&month={month}"
                                           ).get_data(as_text=True)
    coll = client.get(f"/console/finance/reports?report=collection&month={month}&download=csv")
    assert coll.data.startswith(b"\xef\xbb\xbf") and month in coll.data.decode("utf-8-sig")
    assert client.get(f"/console/finance/reports?report=collection&month={month}&download=pdf").data[:4] == b"%PDF"
    assert client.get("/console/finance/reports?day=yesterday").status_code == 400
    assert client.get("/console/finance/reports?report=nosuch").status_code == 404
    assert len(_events(world, "console.report.download")) == 6
