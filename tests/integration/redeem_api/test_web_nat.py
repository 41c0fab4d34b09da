"""Issue 21, finding 5: hundreds of customers share one carrier-grade NAT address.

Past ``web_ip_challenge_after`` failures the page asks each attempt from the address for a proof of work
(solved here as the page's script does); only far beyond does it block the address.
"""
from __future__ import annotations

import re

import pytest

from redeem_api.state import EXTENSION
from tests.integration.redeem_api.test_web_page import form_fields, open_form, submit
from tests.integration.redeem_api.world import Clock, build_world
from vouchers import pow as proof_of_work
from vouchers.codes import generate_code
from vouchers.storage.api_models import Redemption

CUSTOMERS = 50
NAT = {"REMOTE_ADDR": "100.64.0.1"}  # carrier-grade NAT space (RFC 6598)


@pytest.fixture
def world(tmp_path, db_url, now):
    world = build_world(tmp_path, db_url, now, count=CUSTOMERS, active=CUSTOMERS, accounts=CUSTOMERS)
    yield world
    world.engine.dispose()


def _challenge(html: str) -> str | None:
    found = re.search(r'name="pow_challenge" id="pow_challenge" value="([^"]+)"', html)
    return found.group(1) if found else None


def _redeem(client, account: str, code: str):
    """One submission as a browser running the page's script: solve the page's challenge, if any, first."""
    page = client.get("/redeem?lang=en", environ_base=NAT)
    html = page.get_data(as_text=True)
    fields = form_fields(html)
    challenge = _challenge(html)
    if challenge:
        assert '<script src="/static/pow.js" defer></script>' in html
        fields.update(pow_challenge=challenge, pow_solution=proof_of_work.solve(challenge))
    return submit(client, fields, account, code, environ_base=NAT)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the stores' concurrency: test_throttle_concurrency
def test_fifty_customers_behind_one_address_each_with_a_typo_all_redeem(world, now):
    app = world.app(Clock(now), VOUCHER_THROTTLE_WEB_POW_BITS="4")
    try:
        challenged = 0
        for i, card in enumerate(world.cards):
            client = app.test_client()
            account = f"32{i:08d}"
            wrong = _redeem(client, account, generate_code())  # a well-formed wrong code: a counted failure
            assert wrong.status_code == 422, (i, wrong.status_code)
            ok = _redeem(client, account, card.code)
            assert ok.status_code == 200, (i, ok.status_code, re.findall(r'data-code="([a-z_]+)"', ok.get_data(as_text=True)))
            challenged += _challenge(client.get("/redeem", environ_base=NAT).get_data(as_text=True)) is not None
        assert world.count(Redemption) == CUSTOMERS
        assert challenged > 0  # past the threshold the address was asked for work, not blocked
    finally:
        app.extensions[EXTENSION].engine.dispose()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_busy_address_must_show_fresh_single_use_work_then_is_blocked_far_beyond(world, now):
    app = world.app(Clock(now), VOUCHER_THROTTLE_WEB_IP_CHALLENGE_AFTER="2", VOUCHER_THROTTLE_WEB_IP_FAILURES="6",
                    VOUCHER_THROTTLE_WEB_POW_BITS="4", VOUCHER_THROTTLE_WEB_ACCOUNT_FAILURES="100")
    client = app.test_client()
    account = "3200000000"
    for _ in range(2):
        _, fields = open_form(client, "en")
        assert submit(client, fields, account, generate_code(), environ_base=NAT).status_code == 422
    # without work: 429 challenge_required, a challenge on the page, nothing counted
    _, fields = open_form(client, "en")
    refused = submit(client, fields, account, world.cards[0].code, environ_base=NAT)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 429 and 'data-code="challenge_required"' in html and "Retry-After" not in refused.headers
    challenge = _challenge(html)
    assert challenge and "script-src 'self'" in refused.headers["Content-Security-Policy"]
    solution = proof_of_work.solve(challenge)
    fields = {**form_fields(html), "pow_challenge": challenge}
    # forged, for another address, unsolved: refused alike
    other_ip = proof_of_work.issue(app.extensions[EXTENSION].derive(app.extensions[EXTENSION].pepper, "proof-of-work"),
                                   "198.51.100.9", 4, int(now.timestamp()))
    for bad in ({"pow_solution": "x" * 40}, {"pow_challenge": challenge.replace(".4.", ".1.", 1), "pow_solution": "0"},
                {"pow_challenge": other_ip, "pow_solution": proof_of_work.solve(other_ip)}):
        assert submit(client, {**fields, **bad}, account, world.cards[0].code, environ_base=NAT).status_code == 429
    ok = submit(client, {**fields, "pow_solution": solution}, account, world.cards[0].code, environ_base=NAT)
    assert ok.status_code == 200
    # single use: the same proof again is refused
    _, again = open_form(client, "en")
    again.update(pow_challenge=challenge, pow_solution=solution)
    assert submit(client, again, account, world.cards[1].code, environ_base=NAT).status_code == 429
    # with fresh work each time, failures go on up to the hard block
    statuses = [_redeem(client, account, generate_code()).status_code for _ in range(5)]
    assert statuses == [422, 422, 422, 422, 429]
    blocked = _redeem(client, account, world.cards[1].code)
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    app.extensions[EXTENSION].engine.dispose()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_holder_lookup_step_asks_a_busy_address_for_work_too(world, now):
    """Past the challenge threshold, the first step (whose account?) is refused without a proof of work:
    enumerating holders from a busy address costs work like guessing codes does."""
    app = world.app(Clock(now), VOUCHER_THROTTLE_WEB_IP_CHALLENGE_AFTER="2", VOUCHER_THROTTLE_WEB_IP_FAILURES="50",
                    VOUCHER_THROTTLE_WEB_POW_BITS="4", VOUCHER_THROTTLE_WEB_IP_LOOKUPS="100")
    client = app.test_client()
    for i in range(2):  # unknown accounts: failed lookups of this address
        _, fields = open_form(client, "en")
        first = client.post("/redeem", data={**fields, "account_no": f"39000000{i:02d}", "code": generate_code()},
                            environ_base=NAT)
        assert first.status_code == 404, first.status_code
    _, fields = open_form(client, "en")
    refused = client.post("/redeem", data={**fields, "account_no": "3200000000", "code": world.cards[0].code},
                          environ_base=NAT)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 429 and 'data-code="challenge_required"' in html, refused.status_code
    assert 'name="ticket"' not in html and "3200000000" in html  # no holder shown; the account is kept
    challenge = _challenge(html)
    assert challenge
    with world.sessions.begin() as s:  # the refused lookup counted nothing
        counted = {c.key: c.failures for c in app.extensions[EXTENSION].throttle.counters(s, now)}
    assert counted["ip:100.64.0.1"] == 2 and counted["lookup:ip:100.64.0.1"] == 2
    fields = {**form_fields(html), "pow_challenge": challenge, "pow_solution": proof_of_work.solve(challenge)}
    shown = client.post("/redeem", data={**fields, "account_no": "3200000000", "code": world.cards[0].code},
                        environ_base=NAT)
    assert shown.status_code == 200 and 'name="ticket"' in shown.get_data(as_text=True)
    app.extensions[EXTENSION].engine.dispose()
