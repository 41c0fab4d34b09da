"""axe-core over the back-office console pages (finance, customer service, fraud, audit, admin), zh and en:
no serious or critical violation. axe is evaluated by Playwright (vendored under axe/, never served)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.e2e.redeem_api.test_browser import browser  # noqa: F401 - the fixture
from tests.integration.redeem_api.world import ACCOUNT_CLEAN, WEB_PASSPHRASE
from tests.staff_helpers import GOOD_PASSWORD, cheap_argon2, code
from vouchers.books.payments import get_payment, post_payment
from vouchers.staff import accounts, roles
from vouchers.staff.sessions import Resumed
from vouchers.staff.totp import seal_key

AXE = Path(__file__).with_name("axe") / "axe.min.js"
HEADER = "external_ref,account_no,amount,currency,paid_at\n"
PAGES = [
    "/console/finance/reports?report=daily_close", "/console/finance/reports?report=liability",
    "/console/finance/reports?report=collection", "/console/finance/reversals",
    f"/console/service/accounts/{ACCOUNT_CLEAN}/tokens", "/console/service/cards?serial={serial}",
    "/console/service/lockouts", "/console/fraud/cases", "/console/fraud/holds", "/console/audit",
    "/console/admin/staff", "/console/admin/clients",
]


def _violations(page) -> list[tuple[str, str, int]]:
    page.evaluate(AXE.read_text("utf-8"))
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return [(v["id"], v["impact"], len(v["nodes"])) for v in result["violations"]
            if v["impact"] in ("serious", "critical")]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_back_office_pages_have_no_serious_accessibility_violation(e2e_world, serve, browser, monkeypatch,  # noqa: F811
                                                                    tmp_path):
    from vouchers.services import reversals

    world = e2e_world
    cheap_argon2(monkeypatch)
    key = seal_key(world.store.pepper(WEB_PASSPHRASE))
    paid = world.now - dt.timedelta(hours=1)
    with world.sessions.begin() as s:
        omni = accounts.create_staff(s, username="omni", password=GOOD_PASSWORD, seal_key=key, now=world.now,
                                     actor="setup", roles=[roles.FINANCE, roles.APPROVER, roles.CUSTOMER_SERVICE,
                                                           roles.FRAUD_ANALYST, roles.ADMIN]).totp_secret
        fiona = accounts.create_staff(s, username="fiona", roles=[roles.FINANCE], password=GOOD_PASSWORD,
                                      seal_key=key, now=world.now, actor="setup").staff
        post_payment(s, "wechat_pay", ACCOUNT_CLEAN, 1000, "W1", paid, world.now)
        post_payment(s, "counter_cash", ACCOUNT_CLEAN, 5000, "C5", paid, world.now)
        # someone else's pending proposal: the confirm and reject forms are on the page
        reversals.propose(s, Resumed(fiona, "s_setup", world.now), get_payment(s, "counter_cash", "C5").id,
                          reason="paid twice", now=world.now)
    settlement = tmp_path / "settle.csv"
    settlement.write_text(HEADER + f"W1,{ACCOUNT_CLEAN},10.00,CNY,{world.now.date()}T09:00:00+08:00\n", "utf-8")
    server = serve(world, workers=1, threads=2)
    now = dt.datetime.now(dt.timezone.utc)
    context = browser.new_context(bypass_csp=True, locale="en-US")  # axe runs in the page; the pages run none
    page = context.new_page()
    page.goto(server.url + "/console/login?lang=en")
    page.get_by_label("Username").fill("omni")
    page.get_by_label("Password").fill(GOOD_PASSWORD)
    page.get_by_label("Authenticator code (6 digits)").fill(code(omni, now))
    page.get_by_role("button", name="Sign in").click()
    assert page.locator("#who").inner_text() == "omni"

    found = {}
    page.goto(server.url + "/console/finance/reconcile?lang=en")
    found["reconcile form"] = _violations(page)
    page.get_by_label("Channel settlement file").set_input_files(str(settlement))
    page.get_by_label("Channel", exact=True).select_option("wechat_pay")
    page.get_by_role("button", name="Upload and reconcile").click()
    assert page.locator("#matched").inner_text() == "1"
    found["reconcile result"] = _violations(page)
    for lang in ("en", "zh"):
        for path in PAGES:
            url = path.format(serial=world.cards[0].serial)
            page.goto(f"{server.url}{url}{'&' if '?' in url else '?'}lang={lang}")
            assert page.locator("#who").count() == 1, url  # the page itself, not a refusal or the login
            found[f"{url} ({lang})"] = _violations(page)
    # the scan is not blind: an input without a label on the last page is a critical violation
    page.evaluate("() => document.querySelector('main').appendChild(document.createElement('input'))")
    assert "label" in [rule for rule, _, _ in _violations(page)]
    context.close()
    assert {page_name: v for page_name, v in found.items() if v} == {}
