"""Headless Chromium redeems a card on /redeem (no JavaScript needed): confirms the masked holder, then sees the
new balance - in Chinese and English, on a desktop and on a 390x844 phone."""
from __future__ import annotations

import itertools
import os

import pytest

from tests import clock
from tests.integration.redeem_api.world import ACCOUNT_ARREARS, ACCOUNT_CLEAN
from print_templates import PrintBranding
from vouchers.codes import group_code
from vouchers.token import qr_fragment
from vouchers.storage.api_models import Redemption

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


VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "mobile": {"width": 390, "height": 844}}
LABELS = {"en": ("Account number", "Voucher code", "Next: check the account holder", "Confirm and redeem",
                 "Not this account: go back", "Recharge successful"),
          "zh": ("户号", "卡密", "下一步：核对户主", "确认充值", "不是这个户号，返回修改", "充值成功")}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_customer_confirms_the_holder_then_redeems(e2e_world, serve, browser):
    """The two-step flow in both languages on a desktop and a 390x844 phone (one server, four contexts)."""
    world = e2e_world
    server = serve(world, workers=1, threads=2)
    cards = iter(world.cards[:4])
    balance = 0
    for viewport, lang in itertools.product(VIEWPORTS, ("zh", "en")):
        account, code_label, next_label, confirm_label, not_mine, success = LABELS[lang]
        mobile = viewport == "mobile"
        context = browser.new_context(java_script_enabled=False, viewport=VIEWPORTS[viewport], is_mobile=mobile,
                                      has_touch=mobile, locale="en-US" if lang == "en" else "zh-CN")
        page = context.new_page()
        page.goto(f"{server.url}/redeem?lang={lang}")
        card = next(cards)
        page.get_by_label(account).fill(ACCOUNT_ARREARS)
        page.get_by_label(code_label).fill(group_code(card.code))
        page.get_by_role("button", name=next_label).click()
        # step 1: whose account it is; nothing is spent yet
        assert page.locator("#confirm-holder").inner_text() == "张*"
        assert page.locator("#confirm-district").inner_text() == "海*区"
        assert card.code not in page.content() and world.count(Redemption) == balance // 10000
        button = page.get_by_role("button", name=confirm_label)
        box = button.bounding_box()
        assert box is not None and box["x"] + box["width"] <= VIEWPORTS[viewport]["width"], (viewport, box)
        if viewport == "desktop" and lang == "zh":  # "not my account" goes back, and the card stays unspent
            page.get_by_role("link", name=not_mine).click()
            page.get_by_label(account).fill(ACCOUNT_ARREARS)
            page.get_by_label(code_label).fill(card.code)
            page.get_by_role("button", name=next_label).click()
            assert world.count(Redemption) == 0
        page.get_by_role("button", name=confirm_label).click()
        page.wait_for_selector("#result")
        assert page.get_by_role("status").inner_text().startswith(success)
        assert page.locator("#result-account").inner_text() == ACCOUNT_ARREARS
        assert page.locator("#result-holder").inner_text() == "张*"
        balance += 10000
        assert world.balance(ACCOUNT_ARREARS) == (balance - 3000, 0)
        assert page.locator("#result-balance").inner_text() == f"{(balance - 3000) // 100}.00 CNY"
        context.close()
    # a card refused after confirmation is shown as an alert (never activated)
    context = browser.new_context(java_script_enabled=False, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{server.url}/redeem")
    page.get_by_label("户号").fill(ACCOUNT_CLEAN)
    page.get_by_label("卡密").fill(world.cards[-1].code)
    page.get_by_role("button", name="下一步：核对户主").click()
    assert page.locator("#confirm-holder").inner_text() == "李*"
    page.get_by_role("button", name="确认充值").click()
    assert "此充值卡无法使用" in page.get_by_role("alert").inner_text()
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
    page.get_by_role("button", name="Next: check the account holder").click()
    page.get_by_role("button", name="Confirm and redeem").click()
    page.wait_for_selector("#result")
    assert page.locator("#result-serial").inner_text() == card.serial
    context.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_busy_address_gets_a_proof_of_work_the_page_solves_by_itself(e2e_world, serve, browser):
    """Issue 21: past the per-IP challenge threshold the page loads /static/pow.js (CSP: no inline script),
    which solves the challenge and enables the button; the customer then redeems as usual (both steps: the
    first carries the work, the confirmation redeems with it)."""
    from vouchers.codes import generate_code

    world = e2e_world
    server = serve(world, workers=1, threads=2, VOUCHER_THROTTLE_WEB_IP_CHALLENGE_AFTER="1",
                   VOUCHER_THROTTLE_WEB_POW_BITS="10", VOUCHER_THROTTLE_WEB_ACCOUNT_FAILURES="100")
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))  # script errors (not the 422 the refusal is)
    page.goto(server.url + "/redeem?lang=en")
    pow_script = page.locator("script[src$='/pow.js']")
    assert pow_script.count() == 0  # nobody failed yet: no puzzle
    page.get_by_label("Account number").fill(ACCOUNT_CLEAN)
    page.get_by_label("Voucher code").fill(generate_code())  # well-formed, wrong: one failure from this address
    page.get_by_role("button", name="Next: check the account holder").click()
    assert pow_script.count() == 0  # the confirmation page asks no work
    page.get_by_role("button", name="Confirm and redeem").click()
    page.wait_for_selector("#error")
    page.wait_for_selector("form[data-pow=solved]", timeout=20_000)
    assert pow_script.count() == 1
    assert page.locator("#pow_status").inner_text() == "Security check done: you can submit."
    page.get_by_label("Account number").fill(ACCOUNT_CLEAN)
    page.get_by_label("Voucher code").fill(group_code(world.cards[0].code))
    page.get_by_role("button", name="Next: check the account holder").click()
    assert page.locator("#confirm-holder").inner_text() == "李*"
    page.get_by_role("button", name="Confirm and redeem").click()
    page.wait_for_selector("#result")
    assert page.locator("#result-balance").inner_text() == "100.00 CNY"
    assert not errors, errors
    context.close()
