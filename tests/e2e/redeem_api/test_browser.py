"""Headless Chromium redeems a card on /redeem (no JavaScript needed) and sees the new balance."""
from __future__ import annotations

import os

import pytest

from tests import clock
from tests.integration.redeem_api.world import ACCOUNT_ARREARS, ACCOUNT_CLEAN
from print_templates import PrintBranding
from vouchers.codes import group_code
from vouchers.token import qr_fragment

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
def test_scanning_the_card_qr_opens_the_page_with_the_code_filled_in(e2e_world, serve, browser):
    """The QR holds https://<host>/r#EV1:... : the phone opens /r, redeem.js (the CSP allows no inline
    script) puts the token from the fragment in the code field, the customer adds the account and redeems."""
    world = e2e_world
    server = serve(world, workers=1, threads=2, VOUCHER_BRAND_NAME_EN="Acme Power", VOUCHER_BRAND_NAME_ZH="测试供电")
    card = world.cards[2]
    context = browser.new_context(locale="en-US", viewport={"width": 390, "height": 844})
    page = context.new_page()
    # exactly what the card's QR holds for this server: scheme and host upper-cased, the token escaped
    qr = PrintBranding(qr_url=server.url + "/r")
    url = qr.qr_prefix.upper().replace("/R#", "/r#") + qr_fragment(card.token)
    assert url.startswith("HTTP://127.0.0.1:")
    page.goto(url)
    code = page.locator("#code")
    assert code.input_value() == card.token and code.get_attribute("data-from-qr") == "1"
    assert "#" not in page.url  # the token left the address bar
    assert page.locator("#brand-name").inner_text() == "Acme Power"
    page.get_by_label("Account number").fill(ACCOUNT_CLEAN)
    page.get_by_role("button", name="Redeem").click()
    page.wait_for_selector("#result")
    assert page.locator("#result-serial").inner_text() == card.serial
    context.close()
