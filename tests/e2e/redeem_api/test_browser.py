"""Headless Chromium redeems a card on /redeem (no JavaScript needed) and sees the new balance."""
from __future__ import annotations

import os

import pytest

from tests import clock
from tests.integration.redeem_api.world import ACCOUNT_ARREARS, ACCOUNT_CLEAN
from vouchers.codes import group_code

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian chromium is not installed")
    with clock.real_clock_for_tools():
        playwright = sync_api.sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()
    finally:
        playwright.stop()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_customer_redeems_on_the_web_page(e2e_world, serve, browser):
    world = e2e_world
    server = serve(world, workers=1, threads=2)
    context = browser.new_context(java_script_enabled=False, locale="en-US")
    page = context.new_page()
    page.goto(server.url + "/redeem?lang=en")
    assert page.title() == "Recharge your electricity account"
    page.get_by_label("Account number").fill(ACCOUNT_ARREARS)
    page.get_by_label("Voucher code").fill(group_code(world.cards[0].code))
    page.get_by_role("button", name="Redeem").click()
    page.wait_for_selector("#result")
    assert page.get_by_role("status").inner_text().startswith("Recharge successful")
    assert page.locator("#result-balance").inner_text() == "70.00 CNY"
    assert page.locator("#result-arrears").inner_text() == "30.00 CNY"
    assert world.balance(ACCOUNT_ARREARS) == (7000, 0)

    # the Chinese page, a second card, and a refused one shown as an alert
    page.get_by_role("link", name="Redeem another card").click()
    page.get_by_role("link", name="中文").click()
    page.get_by_label("户号").fill(ACCOUNT_CLEAN)
    page.get_by_label("卡密").fill(world.cards[-1].code)  # never activated
    page.get_by_role("button", name="充值").click()
    assert "此充值卡无法使用" in page.get_by_role("alert").inner_text()
    page.get_by_label("户号").fill(ACCOUNT_CLEAN)
    page.get_by_label("卡密").fill(world.cards[1].code)
    page.get_by_role("button", name="充值").click()
    assert page.locator("#result-balance").inner_text() == "100.00 CNY"
    context.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_busy_address_gets_a_proof_of_work_the_page_solves_by_itself(e2e_world, serve, browser):
    """Issue 21: past the per-IP challenge threshold the page loads /static/pow.js (CSP: no inline script),
    which solves the challenge and enables the button; the customer then redeems as usual."""
    from vouchers.codes import generate_code

    world = e2e_world
    server = serve(world, workers=1, threads=2, VOUCHER_THROTTLE_WEB_IP_CHALLENGE_AFTER="1",
                   VOUCHER_THROTTLE_WEB_POW_BITS="10", VOUCHER_THROTTLE_WEB_ACCOUNT_FAILURES="100")
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))  # script errors (not the 422 the refusal is)
    page.goto(server.url + "/redeem?lang=en")
    assert page.locator("script").count() == 0  # nobody failed yet: no script, no puzzle
    page.get_by_label("Account number").fill(ACCOUNT_CLEAN)
    page.get_by_label("Voucher code").fill(generate_code())  # well-formed, wrong: one failure from this address
    page.get_by_role("button", name="Redeem").click()
    page.wait_for_selector("#error")
    page.wait_for_selector("form[data-pow=solved]", timeout=20_000)
    assert page.locator("#pow_status").inner_text() == "Security check done: you can submit."
    page.get_by_label("Account number").fill(ACCOUNT_CLEAN)
    page.get_by_label("Voucher code").fill(group_code(world.cards[0].code))
    page.get_by_role("button", name="Redeem").click()
    page.wait_for_selector("#result")
    assert page.locator("#result-balance").inner_text() == "100.00 CNY"
    assert not errors, errors
    context.close()
