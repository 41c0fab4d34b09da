"""The customer page /redeem: forms without JavaScript, CSRF, languages, harder throttling."""
from __future__ import annotations

import re

import pytest
from markupsafe import escape

from redeem_api.i18n import TEXT
from vouchers.storage.api_models import Redemption
from tests.integration.redeem_api.world import ACCOUNT_ARREARS, ACCOUNT_CLEAN, Clock
from vouchers.codes import generate_code, group_code


def form_fields(html: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', html))


def open_form(client, lang=None):
    response = client.get("/redeem" + (f"?lang={lang}" if lang else ""))
    assert response.status_code == 200
    return response, form_fields(response.get_data(as_text=True))


def submit(client, fields, account, code, **kwargs):
    """Both steps as a customer takes them: account and code, then confirm the holder shown."""
    first = client.post("/redeem", data={**fields, "account_no": account, "code": code}, **kwargs)
    return confirm(client, first, **kwargs)


def confirm(client, first, **kwargs):
    """Press "confirm" on a holder confirmation page (any other page is returned as it is)."""
    ticket = form_fields(first.get_data(as_text=True)).get("ticket")
    if first.status_code != 200 or ticket is None:
        return first
    fields = form_fields(first.get_data(as_text=True))
    kwargs.pop("data", None)
    return client.post("/redeem/confirm", data=fields, **kwargs)


def test_page_is_accessible_and_chinese_by_default(client):
    response, fields = open_form(client)
    html = response.get_data(as_text=True)
    assert '<html lang="zh-CN">' in html and "电费充值卡充值" in html
    assert '<label for="account_no">户号</label>' in html and '<label for="code">卡密</label>' in html
    assert 'id="account_no"' in html and 'id="code"' in html and 'aria-describedby="code_hint"' in html
    # one script, same origin (redeem.js fills a scanned code in); nothing inline, nothing from elsewhere
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/redeem.js" defer>']
    assert "http://" not in html and "https://" not in html
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert set(fields) == {"csrf_token", "submission", "lang"}
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"


def test_english_page(client):
    response, _ = open_form(client, "en")
    html = response.get_data(as_text=True)
    assert '<html lang="en">' in html and "Voucher code" in html and "Account number" in html
    assert open_form(client.application.test_client(), None)[0].status_code == 200
    accept = client.application.test_client().get("/redeem", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert "Voucher code" in accept.get_data(as_text=True)


def test_redeem_on_the_web_shows_the_new_balance(client, world):
    _, fields = open_form(client, "en")
    response = submit(client, fields, ACCOUNT_ARREARS, group_code(world.cards[0].code))
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    assert "Recharge successful" in html
    assert 'id="result-balance" data-balance="70.00"' in html
    assert 'id="result-arrears">30.00 CNY' in html
    assert world.balance(ACCOUNT_ARREARS) == (7000, 0)
    # a double submit of the same form shows the same result and redeems nothing more
    again = submit(client, fields, ACCOUNT_ARREARS, group_code(world.cards[0].code))
    assert again.status_code == 200 and 'data-balance="70.00"' in again.get_data(as_text=True)
    assert world.count(Redemption) == 1


def test_post_without_a_valid_csrf_token_is_refused(client, world):
    _, fields = open_form(client)
    for bad in ({**fields, "csrf_token": "forged"}, {k: v for k, v in fields.items() if k != "csrf_token"}):
        response = submit(client, bad, ACCOUNT_ARREARS, world.cards[0].code)
        assert response.status_code == 403
        assert 'data-code="csrf_failed"' in response.get_data(as_text=True)
    fresh = client.application.test_client()  # no session cookie at all
    assert submit(fresh, fields, ACCOUNT_ARREARS, world.cards[0].code).status_code == 403
    cross = submit(client, fields, ACCOUNT_ARREARS, world.cards[0].code, headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403
    assert world.count(Redemption) == 0 and world.balance(ACCOUNT_ARREARS) == (0, 3000)


def test_web_errors_are_generic_and_localised(client, world):
    _, fields = open_form(client, "zh")
    response = submit(client, fields, ACCOUNT_ARREARS, world.cards[-1].code)  # not activated
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "此充值卡无法使用" in html and 'role="alert"' in html
    _, fields = open_form(client, "zh")
    typo = submit(client, fields, ACCOUNT_ARREARS, "1234")
    assert typo.status_code == 422 and 'data-code="invalid_code_format"' in typo.get_data(as_text=True)
    _, fields = open_form(client, "en")
    missing = submit(client, fields, "", "")
    assert missing.status_code == 400
    _, fields = open_form(client, "en")
    unknown = submit(client, fields, "9999999999", world.cards[0].code)
    assert unknown.status_code == 404 and "no account with that number" in unknown.get_data(as_text=True)
    assert client.post("/redeem", json={"a": 1}).status_code == 415
    big = client.post("/redeem", data={**fields, "code": "1" * 50_000, "account_no": ACCOUNT_ARREARS})
    assert big.status_code == 413 and big.mimetype == "text/html"


def test_web_is_throttled_harder_per_ip(world, now):
    app = world.app(Clock(now), VOUCHER_THROTTLE_WEB_IP_FAILURES="3", VOUCHER_THROTTLE_WEB_ACCOUNT_FAILURES="100")
    client = app.test_client()
    for i in range(3):
        _, fields = open_form(client, "en")
        assert submit(client, fields, ACCOUNT_CLEAN, generate_code()).status_code == 422, i
    _, fields = open_form(client, "en")
    locked = submit(client, fields, ACCOUNT_ARREARS, world.cards[0].code)
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert "Too many failed attempts" in locked.get_data(as_text=True)
    # another address is not locked
    other = app.test_client()
    _, fields = open_form(other, "en")
    ok = submit(other, fields, ACCOUNT_ARREARS, world.cards[0].code, environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert ok.status_code == 200
    from redeem_api.state import EXTENSION

    app.extensions[EXTENSION].engine.dispose()


def test_web_limits_suit_nat_per_ip_and_stay_strict_per_account(world):
    """Per account the page is stricter than a till; per IP (hundreds of customers behind one carrier-grade
    NAT address) it asks for a proof of work long before it blocks."""
    limits = world.config().throttle
    assert limits.web_account_failures < limits.account_failures
    assert limits.web_ip_challenge_after < limits.web_ip_failures and limits.web_ip_failures >= 100
    assert limits.pow_bits(limits.web_ip_challenge_after) == 0
    assert limits.pow_bits(limits.web_ip_challenge_after + 1) == limits.web_pow_bits


def form_action(html: str) -> str:
    (action,) = re.findall(r'<form method="post" action="([^"]*)"', html)
    return action.replace("&amp;", "&")


def post_form(client, html: str, data: dict, **kwargs):
    """Submit as a browser does: to the form's own action."""
    return client.post(form_action(html), data=data, **kwargs)


def test_the_chosen_language_stays_on_refusals(client, world):
    response, fields = open_form(client, "en")
    html = response.get_data(as_text=True)
    assert "lang=en" in form_action(html)
    data = {**fields, "account_no": ACCOUNT_ARREARS, "code": world.cards[0].code}
    refused = [
        post_form(client, html, {**data, "csrf_token": "forged"}),  # wrong token
        post_form(client.application.test_client(), html, data),  # the session expired: no cookie
        post_form(client, html, {**data, "code": "1" * 50_000}),  # over the body limit: the form is unreadable
        post_form(client, html, {**data, "pad": "x" * 50_000}, content_type="multipart/form-data"),
        client.post(form_action(html), json=data),  # not a form
    ]
    for response, status in zip(refused, (403, 403, 413, 413, 415)):
        page = response.get_data(as_text=True)
        assert response.status_code == status and response.mimetype == "text/html", (status, page[:300])
        assert '<html lang="en">' in page and "Account number" in page, status
        assert "lang=en" in form_action(page), status  # the form shown again keeps it too
    assert world.count(Redemption) == 0


def test_chinese_stays_chinese_for_an_english_browser(world):
    client = world.app().test_client()
    response, fields = open_form(client, "zh")
    html = response.get_data(as_text=True)
    english = {"Accept-Language": "en-US,en;q=0.9"}
    big = post_form(client, html, {**fields, "code": "1" * 50_000, "account_no": ACCOUNT_ARREARS}, headers=english)
    assert big.status_code == 413 and '<html lang="zh-CN">' in big.get_data(as_text=True)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_413_415_and_a_reused_form_get_their_own_texts(client, world, lang):
    generic = TEXT[lang]["default_error"]
    response, fields = open_form(client, lang)
    html = response.get_data(as_text=True)
    big = post_form(client, html, {**fields, "code": "1" * 50_000, "account_no": ACCOUNT_ARREARS})
    not_a_form = client.post(form_action(html), json={"a": 1})
    first = confirm(client, post_form(client, html, {**fields, "account_no": ACCOUNT_ARREARS,
                                                    "code": world.cards[0].code}))
    assert first.status_code == 200
    reused = confirm(client, post_form(client, html, {**fields, "account_no": ACCOUNT_ARREARS,
                                                     "code": world.cards[1].code}))
    for response, code in ((big, "payload_too_large"), (not_a_form, "unsupported_media_type"),
                           (reused, "idempotency_key_reused")):
        page = response.get_data(as_text=True)
        assert f'data-code="{code}"' in page, (code, page[:300])
        assert generic not in page and escape(TEXT[lang][code]) in page, code
    assert world.count(Redemption) == 1


PNG_1x1 = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478"
                        "9c6360f8cfc0f01f0005000201e5270ee30000000049454e44ae426082")


def test_the_page_shows_the_configured_brand_and_r_serves_it(world, clock, tmp_path):
    logo = tmp_path / "logo.png"
    logo.write_bytes(PNG_1x1)
    app = world.app(clock, VOUCHER_BRAND_NAME_ZH="测试供电公司", VOUCHER_BRAND_NAME_EN="Acme Power",
                    VOUCHER_BRAND_HOTLINE="400 100 2000", VOUCHER_BRAND_TERMS_EN="Acme terms apply.",
                    VOUCHER_BRAND_PRIMARY_COLOUR="#336699", VOUCHER_BRAND_LOGO=str(logo))
    client = app.test_client()
    en = client.get("/r?lang=en").get_data(as_text=True)  # what a card's QR opens
    assert 'id="code"' in en and "Acme Power" in en and "400 100 2000" in en and "Acme terms apply." in en
    assert "95598" not in en and "State Grid" not in en
    zh = client.get("/redeem").get_data(as_text=True)
    assert "测试供电公司" in zh and "客服热线 400 100 2000" in zh
    served = client.get("/redeem/logo")
    assert served.status_code == 200 and served.mimetype == "image/png" and served.data == PNG_1x1
    css = client.get("/redeem/brand.css")
    assert css.mimetype == "text/css" and "--brand: #336699" in css.get_data(as_text=True)
    from redeem_api.routes.web import _page

    with app.test_request_context("/redeem?lang=zh"):  # a refusal naming the hotline, with {seconds} formatting
        html = _page(409, lang="zh", error="balance_out_of_range").get_data(as_text=True)
    assert "请联系客服热线 400 100 2000" in html


def test_without_a_logo_the_logo_route_is_a_404_page(client):
    assert client.get("/redeem/logo").status_code == 404
    assert "95598" not in client.get("/redeem").get_data(as_text=True)  # the neutral default, no made-up hotline


def test_a_pasted_card_url_or_token_redeems(client, world):
    from vouchers.branding import NEUTRAL

    _, fields = open_form(client)
    url = NEUTRAL.qr_text(world.cards[0].token)  # what the QR holds, pasted whole
    assert url.startswith("https://pay.utility.example/r#EV1:")
    response = submit(client, fields, ACCOUNT_ARREARS, url)
    assert response.status_code == 200 and 'id="result"' in response.get_data(as_text=True)
    _, fields = open_form(client)
    response = submit(client, fields, ACCOUNT_CLEAN, world.cards[1].token)  # the bare token, as before
    assert response.status_code == 200 and 'id="result"' in response.get_data(as_text=True)


def shown_reference(response) -> str:  # type: ignore[no-untyped-def]
    """The reference the page shows the customer (参考号 / Reference), checked against X-Request-Id."""
    found = re.findall(r'参考号 / Reference: <span id="request-id">([^<]*)</span>', response.get_data(as_text=True))
    assert len(found) == 1, response.get_data(as_text=True)
    assert found[0] == response.headers["X-Request-Id"]
    return found[0]


def test_result_refusal_and_error_pages_show_the_request_id_as_a_reference(client, world, caplog):
    """Issue 22: only JSON errors carried the request id; a customer with a refused or a successful web
    redemption now reads the id of its log line (参考号 / Reference) to quote to customer service."""
    import logging

    caplog.set_level(logging.INFO, logger="redeem_api.requests")
    form, fields = open_form(client, "en")
    assert "Reference" not in form.get_data(as_text=True)  # nothing to quote before anything happened
    refused = submit(client, fields, ACCOUNT_ARREARS, world.cards[-1].code)  # a refusal: not activated
    assert refused.status_code == 422
    reference = shown_reference(refused)
    assert any(getattr(r, "request_id", None) == reference and r.status == 422 for r in caplog.records)
    _, fields = open_form(client, "zh")
    typo = submit(client, fields, ACCOUNT_ARREARS, "1234", headers={"X-Request-Id": "till-7:call-42"})
    assert shown_reference(typo) == "till-7:call-42"  # the caller's own id, when it is a sane one
    forged = submit(client, {**fields, "csrf_token": "forged"}, ACCOUNT_ARREARS, world.cards[0].code,
                    headers={"X-Request-Id": '<b>"x"</b>'})
    assert forged.status_code == 403 and "&lt;b&gt;" not in forged.get_data(as_text=True)
    assert re.fullmatch(r"[0-9a-f]{32}", shown_reference(forged))  # an unsafe id is replaced, never echoed
    big = client.post("/redeem", data={**fields, "code": "1" * 50_000, "account_no": ACCOUNT_ARREARS})
    assert big.status_code == 413 and shown_reference(big)
    _, fields = open_form(client, "en")
    done = submit(client, fields, ACCOUNT_ARREARS, group_code(world.cards[0].code))
    assert done.status_code == 200 and "Recharge successful" in done.get_data(as_text=True)
    assert shown_reference(done) != reference


def test_a_held_redemption_shows_its_reference(world, clock):
    from tests.integration.redeem_api.test_fraud_holds_api import HOLDING

    client = world.app(clock, **HOLDING).test_client()
    _, fields = open_form(client, "zh")
    assert submit(client, fields, ACCOUNT_CLEAN, world.cards[0].code).status_code == 200
    _, fields = open_form(client, "zh")
    held = submit(client, fields, ACCOUNT_CLEAN, world.cards[1].code)
    assert held.status_code == 202 and 'data-code="held_for_review"' in held.get_data(as_text=True)
    assert shown_reference(held)
