"""Headless Chromium redeems a card on /redeem (no JavaScript needed): confirms the masked holder, then sees the
new balance - in Chinese and English, on a desktop and on a 390x844 phone."""
from __future__ import annotations

import itertools
import os

import pytest

from tests import clock
from tests.integration.redeem_api.world import ACCOUNT_ARREARS, ACCOUNT_CLEAN
from vouchers.codes import group_code
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
