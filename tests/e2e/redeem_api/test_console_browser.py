"""Headless Chromium: a maker's draft batch is approved in the console by a second person with a fresh TOTP code."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from issuer.batches import BatchRequest, create_batch
from tests.e2e.redeem_api.test_browser import browser  # noqa: F401 - the fixture
from tests.integration.redeem_api.world import EXPIRES, PASSPHRASE, WEB_PASSPHRASE
from tests.staff_helpers import GOOD_PASSWORD, cheap_argon2, code
from vouchers.staff import accounts
from vouchers.staff.totp import seal_key
from vouchers.storage.models import Batch


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_second_person_approves_a_batch_in_the_browser(e2e_world, serve, browser, monkeypatch):  # noqa: F811
    world = e2e_world
    cheap_argon2(monkeypatch)  # the hashes carry their cost: the server verifies them as cheaply
    key = seal_key(world.store.pepper(WEB_PASSPHRASE))
    with world.sessions.begin() as s:
        for username, role in (("alice", "issuer_operator"), ("bob", "approver")):
            enrolment = accounts.create_staff(s, username=username, roles=[role], password=GOOD_PASSWORD,
                                              seal_key=key, now=world.now, actor="setup")
            if username == "bob":
                bob_secret = enrolment.totp_secret
    batch_id = create_batch(world.sessions, world.store, PASSPHRASE,
                            BatchRequest(face_value=5000, count=2, expires=EXPIRES, currency="CNY", operator="alice"),
                            web_passphrase=WEB_PASSPHRASE, now=world.now, today=world.now.date(), issuer_code=1,
                            max_count=1000).batch_id
    server = serve(world, workers=1, threads=2)
    context = browser.new_context(java_script_enabled=False, locale="en-US")
    page = context.new_page()
    page.goto(server.url + "/console/?lang=en")
    assert page.url.startswith(server.url + "/console/login")  # no session: the login form
    now = dt.datetime.now(dt.timezone.utc)  # the server's clock is the real one
    page.get_by_label("Username").fill("bob")
    page.get_by_label("Password").fill(GOOD_PASSWORD)
    page.get_by_label("Authenticator code (6 digits)").fill(code(bob_secret, now))
    page.get_by_role("button", name="Sign in").click()
    assert page.locator("#who").inner_text() == "bob"
    assert "Outstanding voucher liability" in page.content()
    page.get_by_role("link", name="Batches").click()
    row = page.locator(f"#batch-{batch_id}")
    assert row.get_attribute("data-status") == "draft"
    row.locator(f"#totp-a-{batch_id}").fill(code(bob_secret, now, 1))  # step-up: a code not used before
    row.get_by_role("button", name="Approve").click()
    assert page.locator(f"#batch-{batch_id}").get_attribute("data-status") == "approved"
    with world.sessions.begin() as s:
        batch = s.execute(select(Batch).where(Batch.batch_id == batch_id)).scalar_one()
    assert (batch.status, batch.created_by, batch.approved_by) == ("approved", "alice", "bob")
    context.close()
