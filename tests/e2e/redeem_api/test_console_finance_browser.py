"""Headless Chromium: finance reconciles a settlement file and proposes a reversal; a second person confirms it."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from tests.e2e.redeem_api.test_browser import browser  # noqa: F401 - the fixture
from tests.integration.redeem_api.world import ACCOUNT_CLEAN, WEB_PASSPHRASE
from tests.staff_helpers import GOOD_PASSWORD, cheap_argon2, code
from vouchers.books.payments import get_payment, post_payment
from vouchers.staff import accounts
from vouchers.staff.totp import seal_key
from vouchers.storage.staff_models import ApprovalRequest

HEADER = "external_ref,account_no,amount,currency,paid_at\n"


def _sign_in(page, url: str, username: str, secret: str, now: dt.datetime) -> None:
    page.goto(url + "/console/?lang=en")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(GOOD_PASSWORD)
    page.get_by_label("Authenticator code (6 digits)").fill(code(secret, now))
    page.get_by_role("button", name="Sign in").click()
    assert page.locator("#who").inner_text() == username


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_finance_reconciles_and_a_second_person_confirms_a_reversal(e2e_world, serve, browser, monkeypatch,  # noqa: F811
                                                                     tmp_path):
    world = e2e_world
    cheap_argon2(monkeypatch)
    key = seal_key(world.store.pepper(WEB_PASSPHRASE))
    secrets = {}
    paid = world.now - dt.timedelta(hours=1)
    with world.sessions.begin() as s:
        for username, role in (("fiona", "finance"), ("bob", "approver")):
            secrets[username] = accounts.create_staff(s, username=username, roles=[role], password=GOOD_PASSWORD,
                                                      seal_key=key, now=world.now, actor="setup").totp_secret
        for ref, amount in (("W1", 1000), ("W2", 2000)):
            post_payment(s, "wechat_pay", ACCOUNT_CLEAN, amount, ref, paid, world.now)
        post_payment(s, "counter_cash", ACCOUNT_CLEAN, 5000, "C5", paid, world.now)
    day = world.now.date().isoformat()
    settlement = tmp_path / "wechat-settlement.csv"
    settlement.write_text(HEADER + f"W1,{ACCOUNT_CLEAN},10.00,CNY,{day}T09:00:00+08:00\n"
                                   f"W9,{ACCOUNT_CLEAN},90.00,CNY,{day}T09:00:00+08:00\n", encoding="utf-8")
    server = serve(world, workers=1, threads=2)
    now = dt.datetime.now(dt.timezone.utc)  # the server's clock is the real one

    context = browser.new_context(java_script_enabled=False, locale="en-US")
    page = context.new_page()
    _sign_in(page, server.url, "fiona", secrets["fiona"], now)
    page.get_by_role("link", name="Reconcile").click()
    page.get_by_label("Channel", exact=True).select_option("wechat_pay")
    page.get_by_label("Channel settlement file").set_input_files(str(settlement))
    page.get_by_role("button", name="Upload and reconcile").click()
    assert page.locator("#matched").inner_text() == "1"
    assert page.locator("#missing_in_books li").all_inner_texts() == ["W9"]
    assert page.locator("#missing_in_file li").all_inner_texts() == ["W2"]

    page.get_by_role("link", name="Reversals").click()
    page.get_by_label("Channel", exact=True).select_option("counter_cash")
    page.get_by_label("Channel reference").fill("C5")
    page.get_by_label("Reason").fill("paid twice at the counter")
    page.get_by_role("button", name="Propose").click()
    assert page.locator("#done").get_attribute("data-done").startswith("proposed:")
    with world.sessions.begin() as s:
        request_id = s.execute(select(ApprovalRequest.id)).scalar_one()
    row = page.locator(f"#request-{request_id}")
    assert "paid twice at the counter" in row.inner_text()
    assert row.get_by_role("button", name="Confirm reversal").count() == 0  # finance cannot confirm
    page.get_by_role("button", name="Sign out").click()
    context.close()

    context = browser.new_context(java_script_enabled=False, locale="en-US")
    page = context.new_page()
    _sign_in(page, server.url, "bob", secrets["bob"], now)
    page.get_by_role("link", name="Reversals").click()
    row = page.locator(f"#request-{request_id}")
    row.locator(f"#totp-c-{request_id}").fill(code(secrets["bob"], now, 1))  # step-up: a code not used before
    row.get_by_role("button", name="Confirm reversal").click()
    assert page.locator("#done").get_attribute("data-done") == f"confirm:{request_id}"
    assert page.locator(f"#recent-{request_id}").get_attribute("data-status") == "approved"
    assert page.locator(f"#request-{request_id}").count() == 0  # no longer pending
    context.close()
    with world.sessions.begin() as s:
        assert get_payment(s, "counter_cash", "C5").status == "reversed"
        request = s.get(ApprovalRequest, request_id)
        assert (request.requested_by, request.decided_by, request.status) == ("fiona", "bob", "approved")
        assert get_payment(s, "wechat_pay", "W1").reconciliation_id is not None
