"""Console access: the login contract, cookie flags, the role x route matrix, sessions, CSRF, throttling."""
from __future__ import annotations

import datetime as dt

import pytest

from tests.integration.redeem_api.console.conftest import csrf_of, login, token
from tests.staff_helpers import GOOD_PASSWORD, code
from vouchers.staff import roles

# every console route: (method, path template); {batch} is the world's batch (DISTRIBUTOR's stock)
ROUTES = [
    ("GET", "/console/"),
    ("POST", "/console/ledger-verify"),
    ("GET", "/console/batches"),
    ("POST", "/console/batches/{batch}/approve"),
    ("POST", "/console/batches/{batch}/reject"),
    ("GET", "/console/customers?q=3100000001"),
    ("GET", "/console/distributor"),
    ("GET", "/console/distributor/batches/{batch}"),
    # the issuer's batch desk and the distributor portal's actions (console/issuer_views, distributor_views)
    ("GET", "/console/batches/new"),
    ("POST", "/console/batches/new"),
    ("GET", "/console/batches/{batch}"),
    ("POST", "/console/batches/{batch}/print"),
    ("POST", "/console/batches/{batch}/export"),
    ("POST", "/console/batches/{batch}/consign"),
    ("POST", "/console/batches/{batch}/activate"),
    ("POST", "/console/batches/{batch}/void"),
    ("POST", "/console/batches/{batch}/ship"),
    ("POST", "/console/batches/{batch}/close"),
    ("GET", "/console/requests"),
    ("POST", "/console/requests/1/confirm"),
    ("POST", "/console/requests/1/reject"),
    ("POST", "/console/keys/revoke"),
    ("POST", "/console/distributor/activate"),
    ("GET", "/console/distributor/statement"),
    ("GET", "/console/finance/reconcile"),
    ("POST", "/console/finance/reconcile"),
    ("GET", "/console/finance/reports"),
    ("GET", "/console/finance/reports?report=liability&download=csv"),
    ("GET", "/console/finance/reversals"),
    ("POST", "/console/finance/reversals"),
    ("POST", "/console/finance/reversals/1/confirm"),
    ("POST", "/console/finance/reversals/1/reject"),
    ("GET", "/console/service/accounts/3100000002/tokens"),
    ("POST", "/console/service/meters/600727000000000009/reprint"),
    ("GET", "/console/service/cards?serial=0000000000000000"),
    ("GET", "/console/service/lockouts"),
    ("POST", "/console/service/lockouts/unlock"),
    ("GET", "/console/fraud/cases"),
    ("GET", "/console/fraud/cases/1"),
    ("POST", "/console/fraud/cases/1/close"),
    ("GET", "/console/fraud/holds"),
    ("POST", "/console/fraud/holds/H1/release"),
    ("GET", "/console/audit"),
    ("POST", "/console/audit/verify"),
    ("GET", "/console/admin/staff"),
    ("POST", "/console/admin/staff"),
    ("POST", "/console/admin/staff/nosuch/disable"),
    ("POST", "/console/admin/staff/nosuch/reset-2fa"),
    ("POST", "/console/admin/staff/nosuch/reset-2fa/approve"),
    ("GET", "/console/admin/clients"),
    ("POST", "/console/admin/clients"),
    ("POST", "/console/admin/clients/c_nosuch/revoke"),
    ("POST", "/console/logout"),
]
MAKER = {roles.ISSUER_OPERATOR}
ALLOWED = {
    "/console/": set(roles.INTERNAL),
    "/console/ledger-verify": {roles.FINANCE, roles.ADMIN},
    "/console/batches": {roles.ISSUER_OPERATOR, roles.APPROVER, roles.ADMIN, roles.FINANCE},
    "/console/batches/{batch}/approve": {roles.APPROVER},
    "/console/batches/{batch}/reject": {roles.APPROVER},
    "/console/customers?q=3100000001": {roles.CUSTOMER_SERVICE, roles.FRAUD_ANALYST},
    "/console/distributor": {roles.DISTRIBUTOR},
    "/console/distributor/batches/{batch}": {roles.DISTRIBUTOR},
    "/console/batches/new": MAKER,
    "/console/batches/{batch}": {roles.ISSUER_OPERATOR, roles.APPROVER, roles.ADMIN, roles.FINANCE},
    "/console/batches/{batch}/print": MAKER,
    "/console/batches/{batch}/export": MAKER,
    "/console/batches/{batch}/consign": MAKER,
    "/console/batches/{batch}/activate": MAKER,
    "/console/batches/{batch}/void": {roles.ISSUER_OPERATOR, roles.APPROVER},
    "/console/batches/{batch}/ship": MAKER,
    "/console/batches/{batch}/close": MAKER,
    "/console/requests": {roles.ISSUER_OPERATOR, roles.APPROVER, roles.ADMIN},
    "/console/requests/1/confirm": {roles.APPROVER},
    "/console/requests/1/reject": {roles.APPROVER},
    "/console/keys/revoke": {roles.ADMIN, roles.APPROVER},
    "/console/distributor/activate": {roles.DISTRIBUTOR},
    "/console/distributor/statement": {roles.DISTRIBUTOR},
    "/console/finance/reconcile": {roles.FINANCE},
    "/console/admin/clients/c_nosuch/revoke": {roles.ADMIN},
    "/console/finance/reports": {roles.FINANCE},
    "/console/finance/reports?report=liability&download=csv": {roles.FINANCE},
    "/console/finance/reversals": {roles.FINANCE, roles.APPROVER},
    ("POST", "/console/finance/reversals"): {roles.FINANCE},  # proposing: finance only; confirming: approvers
    "/console/finance/reversals/1/confirm": {roles.APPROVER},
    "/console/finance/reversals/1/reject": {roles.APPROVER},
    "/console/service/accounts/3100000002/tokens": {roles.CUSTOMER_SERVICE},
    "/console/service/meters/600727000000000009/reprint": {roles.CUSTOMER_SERVICE},
    "/console/service/cards?serial=0000000000000000": {roles.CUSTOMER_SERVICE, roles.FRAUD_ANALYST},
    "/console/service/lockouts": {roles.CUSTOMER_SERVICE, roles.FRAUD_ANALYST},
    "/console/service/lockouts/unlock": {roles.CUSTOMER_SERVICE, roles.FRAUD_ANALYST},
    "/console/fraud/cases": {roles.FRAUD_ANALYST},
    "/console/fraud/cases/1": {roles.FRAUD_ANALYST},
    "/console/fraud/cases/1/close": {roles.FRAUD_ANALYST},
    "/console/fraud/holds": {roles.FRAUD_ANALYST},
    "/console/fraud/holds/H1/release": {roles.FRAUD_ANALYST},
    "/console/audit": {roles.ADMIN, roles.FINANCE},
    "/console/audit/verify": {roles.ADMIN, roles.FINANCE},
    ("GET", "/console/admin/staff"): {roles.ADMIN, roles.APPROVER},  # approvers complete 2FA resets there
    ("POST", "/console/admin/staff"): {roles.ADMIN},
    "/console/admin/staff/nosuch/disable": {roles.ADMIN},
    "/console/admin/staff/nosuch/reset-2fa": {roles.ADMIN},
    "/console/admin/staff/nosuch/reset-2fa/approve": {roles.APPROVER},
    "/console/admin/clients": {roles.ADMIN},
    "/console/logout": set(roles.ROLES),
}


def test_login_form_contract_and_anonymous_redirects(client, world):
    page = client.get("/console/login")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    for field in ('name="username"', 'name="password"', 'name="totp"', 'type="hidden" name="csrf_token"'):
        assert field in html
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp and "script-src" not in csp
    assert "<script" not in html and " style=" not in html
    for method, path in ROUTES + [("GET", "/console"), ("GET", "/console/no-such-page")]:
        response = client.open(path.format(batch=world.batch_id), method=method)
        assert response.status_code in (302, 303), path
        assert response.headers["Location"].split("?")[0].endswith("/console/login"), path


def test_login_sets_a_strict_cookie_and_redirects_under_console(world, clock, staff):
    client = world.app(clock, VOUCHER_COOKIE_SECURE="1").test_client()
    response = login(client, staff["finance"], clock.now)
    assert response.headers["Location"].startswith("/console/")
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("console_session="))
    for flag in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/console/"):
        assert flag in cookie, cookie


def _expect_allowed(response, role_allowed: bool, label: str) -> None:
    html = response.get_data(as_text=True)
    refused = response.status_code == 403 and 'data-code="forbidden"' in html
    assert 'data-code="csrf_failed"' not in html, label
    assert refused != role_allowed, (label, response.status_code, html[:300])
    assert response.status_code != 500 and response.status_code not in (302, 303) or role_allowed, label


def test_role_by_route_matrix(app, world, clock, staff):
    for name, person in staff.items():
        client = app.test_client()
        if name == "disabled":
            login(client, person, clock.now, expect=401)
            assert client.get("/console/").status_code == 303
            continue
        login(client, person, clock.now)
        person_roles = {"distributor": {roles.DISTRIBUTOR}, "other_distributor": {roles.DISTRIBUTOR},
                        "approver2": {roles.APPROVER},
                        "maker_approver": {roles.ISSUER_OPERATOR, roles.APPROVER}}.get(name, {name})
        home = "/console/distributor" if person_roles == {roles.DISTRIBUTOR} else "/console/"
        csrf = token(client, home)  # bound to the session: the same on every page of it
        for method, path in ROUTES:
            if path == "/console/logout":
                continue
            url = path.format(batch=world.batch_id)
            if method == "POST":
                response = client.post(url, data={"csrf_token": csrf, "totp": "000000",
                                                  "reason": "matrix"})
            else:
                response = client.get(url)
            allowed = bool(person_roles & ALLOWED.get((method, path), ALLOWED.get(path, set())))
            if path == "/console/" and person_roles == {roles.DISTRIBUTOR}:
                assert response.status_code == 303 and response.headers["Location"].startswith("/console/distributor")
                continue
            if path == "/console/distributor/batches/{batch}" and name == "other_distributor":
                # another distributor's batch: the same 404 as no batch at all (no IDOR)
                assert response.status_code == 404 and world.cards[0].serial not in response.get_data(as_text=True)
                continue
            _expect_allowed(response, allowed, f"{name} {method} {path}")
        response = client.post("/console/logout", data={"csrf_token": csrf})
        assert response.status_code == 303
        assert client.get("/console/").status_code == 303  # the session ended


def test_distributor_sees_only_its_own_stock(app, world, clock, staff):
    mine, theirs = app.test_client(), app.test_client()
    login(mine, staff["distributor"], clock.now)
    login(theirs, staff["other_distributor"], clock.now)
    own = mine.get(f"/console/distributor/batches/{world.batch_id}")
    assert own.status_code == 200 and world.cards[0].serial in own.get_data(as_text=True)
    # the distributor comes from the account: a query parameter naming another one changes nothing
    other = theirs.get(f"/console/distributor?distributor=D001&distributor_id=D001")
    assert other.status_code == 200 and world.batch_id not in other.get_data(as_text=True)
    assert theirs.get(f"/console/distributor/batches/{world.batch_id}").status_code == 404
    assert theirs.get("/console/distributor/batches/NOSUCH").status_code == 404


def test_csrf_missing_or_foreign_token_is_refused(app, world, clock, staff):
    first, second = app.test_client(), app.test_client()
    login(first, staff["finance"], clock.now)
    login(second, staff["admin"], clock.now)
    foreign = token(second)
    for data in ({}, {"csrf_token": ""}, {"csrf_token": foreign}):
        response = first.post("/console/ledger-verify", data=data)
        assert response.status_code == 403 and 'data-code="csrf_failed"' in response.get_data(as_text=True)
    assert first.post("/console/ledger-verify", data={"csrf_token": token(first)}).status_code == 303
    # the login form too
    anonymous = app.test_client()
    anonymous.get("/console/login")
    response = anonymous.post("/console/login", data={"username": "finance", "password": GOOD_PASSWORD,
                                                       "totp": code(staff["finance"].secret, clock.now, 1)})
    assert response.status_code == 403


def test_login_throttled_per_username_and_per_ip_without_revealing_usernames(world, clock, staff):
    app = world.app(clock, VOUCHER_CONSOLE_LOGIN_USER_FAILURES="3", VOUCHER_CONSOLE_LOGIN_IP_FAILURES="5")
    client = app.test_client()

    def attempt(username: str, password: str = "wrong password!", totp: str = "123456", ip: str = "10.0.0.1"):
        page = client.get("/console/login")
        return client.post("/console/login", environ_base={"REMOTE_ADDR": ip}, data={
            "csrf_token": csrf_of(page.get_data(as_text=True)), "username": username, "password": password,
            "totp": totp})

    known, unknown = attempt("finance"), attempt("nobody.here")
    assert known.status_code == unknown.status_code == 401
    strip = lambda r: r.get_data(as_text=True).replace(csrf_of(r.get_data(as_text=True)), "")  # noqa: E731
    assert strip(known) == strip(unknown)  # the same answer whether or not the username exists
    attempt("finance")
    # the third failure locks the username: even the right password and code are refused now
    attempt("finance")
    right = attempt("finance", GOOD_PASSWORD, code(staff["finance"].secret, clock.now), ip="10.0.0.2")
    assert right.status_code == 429 and right.headers["Retry-After"]
    # the IP: 5 failures over any usernames, then refused for every username
    attempt("someone.else")
    blocked = attempt("admin", GOOD_PASSWORD, code(staff["admin"].secret, clock.now))
    assert blocked.status_code == 429
    assert attempt("admin", GOOD_PASSWORD, code(staff["admin"].secret, clock.now), ip="10.0.0.3").status_code == 303


def test_totp_code_is_usable_once_and_each_login_rotates_the_session(app, world, clock, staff):
    client = app.test_client()
    login(client, staff["finance"], clock.now)
    before = client.get_cookie("console_session", path="/console/").value
    client.post("/console/logout", data={"csrf_token": token(client)})
    login(client, staff["finance"], clock.now, expect=401)  # the same code again: replay refused
    login(client, staff["finance"], clock.now, steps=1)  # the next step's code is fresh
    login(client, staff["finance"], clock.now, steps=-1, expect=401)  # older than one used: refused too
    after = client.get_cookie("console_session", path="/console/").value
    assert before != after
    # a token planted in a browser before someone logs in there is ended by that login
    planted = app.test_client()
    planted.set_cookie("console_session", after, path="/console/")
    clock.advance(60)
    login(planted, staff["finance"], clock.now)
    assert client.get("/console/").status_code == 303
    assert planted.get("/console/").status_code == 200


def test_session_idle_and_absolute_expiry_and_disabled_users(app, world, clock, staff):
    from vouchers.staff.accounts import disable_staff

    other = app.test_client()
    login(other, staff["admin"], clock.now)
    assert other.get("/console/").status_code == 200
    with world.sessions.begin() as s:
        disable_staff(s, staff["admin"].username, now=clock.now, actor="root", reason="left")
    assert other.get("/console/").status_code == 303  # disabling ends the session at once
    client = app.test_client()
    login(client, staff["finance"], clock.now)
    clock.advance(14 * 60)
    assert client.get("/console/").status_code == 200
    clock.advance(16 * 60)
    assert client.get("/console/").status_code == 303  # idle 15 min
    login(client, staff["finance"], clock.now)
    for _ in range(34):  # used every 14 minutes (a cheap unknown page: 404 while the session lives) ...
        clock.advance(14 * 60)
        assert client.get("/console/unknown").status_code == 404
    clock.advance(14 * 60)  # ... still ended 8 h after login
    assert client.get("/console/unknown").status_code == 303
