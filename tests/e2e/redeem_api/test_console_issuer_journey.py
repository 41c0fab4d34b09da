"""Headless Chromium: a maker requests a batch, the issuer process generates it, a second person approves it with
a fresh TOTP code, the maker consigns it, the distributor activates sold cards in its portal."""
from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pytest
from sqlalchemy import select

from tests.e2e.redeem_api.test_browser import browser  # noqa: F401 - the fixture
from tests.integration.redeem_api.world import DISTRIBUTOR, EXPIRES, PASSPHRASE, WEB_PASSPHRASE
from tests.staff_helpers import GOOD_PASSWORD, cheap_argon2, code
from vouchers.staff import accounts
from vouchers.staff.totp import seal_key
from vouchers.storage.models import Batch, Voucher
from vouchers.storage.request_models import StaffRequest


def _sign_in(browser, server, username: str, secret: str, steps: int = 0):  # noqa: F811
    context = browser.new_context(java_script_enabled=False, locale="en-US")
    page = context.new_page()
    page.goto(server.url + "/console/?lang=en")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(GOOD_PASSWORD)
    page.get_by_label("Authenticator code (6 digits)").fill(code(secret, dt.datetime.now(dt.timezone.utc), steps))
    page.get_by_role("button", name="Sign in").click()
    assert page.locator("#who").inner_text() == username
    return context, page


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_maker_requests_approver_approves_maker_consigns_distributor_activates(
        e2e_world, serve, browser, monkeypatch, tmp_path):  # noqa: F811
    world = e2e_world
    cheap_argon2(monkeypatch)  # the hashes carry their cost: the server and the CLI verify them as cheaply
    key = seal_key(world.store.pepper(WEB_PASSPHRASE))
    secrets = {}
    with world.sessions.begin() as s:
        for username, role, distributor in (("alice", "issuer_operator", None), ("bob", "approver", None),
                                            ("d001.till", "distributor", DISTRIBUTOR)):
            secrets[username] = accounts.create_staff(s, username=username, roles=[role], password=GOOD_PASSWORD,
                                                      seal_key=key, now=world.now, actor="setup",
                                                      distributor_id=distributor).totp_secret
    server = serve(world, workers=1, threads=2)

    # 1. the maker asks for a batch; the page says what happens next
    alice, page = _sign_in(browser, server, "alice", secrets["alice"])
    page.get_by_role("link", name="Batches").click()
    page.get_by_role("link", name="Request a batch").click()
    assert "voucherctl requests fulfil" in page.locator("#next").inner_text()
    page.get_by_label("Face value").fill("50.00")
    page.get_by_label("Number of cards").fill("4")
    page.get_by_label("Last valid day").fill(EXPIRES.isoformat())
    page.get_by_role("button", name="Submit the request").click()
    with world.sessions.begin() as s:
        request_id = s.execute(select(StaffRequest.id).where(StaffRequest.kind == "batch_create")).scalar_one()
    row = page.locator(f"#request-{request_id}")
    assert row.get_attribute("data-status") == "pending"
    assert f"voucherctl requests fulfil {request_id}" in row.inner_text()

    # 2. the issuer process (the CLI, with the issuer passphrase) generates it, the maker logged in there
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOUCHER_")}
    env.update(world.env(VOUCHER_KEY_PASSPHRASE=PASSPHRASE))
    password = tmp_path / "alice.pw"
    password.write_text(GOOD_PASSWORD + "\n", "utf-8")

    def voucherctl(*argv: str) -> str:
        done = subprocess.run([sys.executable, "-m", "voucherctl", *argv], env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout

    voucherctl("login", "--username", "alice", "--password-file", str(password),
               "--totp", code(secrets["alice"], dt.datetime.now(dt.timezone.utc), 1))
    voucherctl("requests", "fulfil", str(request_id), "--operator", "alice")
    with world.sessions.begin() as s:
        made = s.execute(select(StaffRequest.subject_id).where(StaffRequest.id == request_id)).scalar_one()
        batch = s.execute(select(Batch).where(Batch.batch_id == made)).scalar_one()
        batch_id, first_serial = batch.batch_id, batch.first_serial
    assert (batch.status, batch.created_by) == ("draft", "alice")

    # 3. a second person approves with a fresh code
    bob, review = _sign_in(browser, server, "bob", secrets["bob"])
    review.get_by_role("link", name="Batches").click()
    draft = review.locator(f"#batch-{batch_id}")
    draft.locator(f"#totp-a-{batch_id}").fill(code(secrets["bob"], dt.datetime.now(dt.timezone.utc), 1))
    draft.get_by_role("button", name="Approve").click()
    assert review.locator(f"#batch-{batch_id}").get_attribute("data-status") == "approved"
    bob.close()

    # 4. the maker consigns the whole batch to the distributor
    page.goto(f"{server.url}/console/batches/{batch_id}?lang=en")
    form = page.locator("#consign")
    form.get_by_label("Distributor id").fill(DISTRIBUTOR)
    form.get_by_role("button", name="Consign to a distributor").click()
    assert page.locator("#done").is_visible()
    assert DISTRIBUTOR in page.locator("#holders").inner_text()
    alice.close()

    # 5. the distributor activates the two cards it sold, by first serial + count
    till, portal = _sign_in(browser, server, "d001.till", secrets["d001.till"])
    assert portal.url.startswith(server.url + "/console/distributor")
    form = portal.locator("#activate")
    form.get_by_label("Batch").fill(batch_id)
    form.get_by_label("First serial").fill(first_serial)
    form.get_by_label("Number of cards").fill("2")
    form.get_by_role("button", name="Activate sold cards").click()
    assert "2:" in portal.locator("#done").inner_text()
    till.close()
    with world.sessions.begin() as s:
        pk = s.execute(select(Batch.id).where(Batch.batch_id == batch_id)).scalar_one()
        cards = s.execute(select(Voucher.sequence, Voucher.status, Voucher.consigned_to)
                          .where(Voucher.batch_pk == pk).order_by(Voucher.sequence)).all()
    assert [tuple(c) for c in cards] == [(1, "active", DISTRIBUTOR), (2, "active", DISTRIBUTOR),
                                         (3, "inactive", DISTRIBUTOR), (4, "inactive", DISTRIBUTOR)]
