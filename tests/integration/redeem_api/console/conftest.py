"""Console fixtures: staff accounts (one per role) on the API world, a login helper on the Flask test client."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import pytest

from tests.integration.redeem_api.world import DISTRIBUTOR, OTHER_DISTRIBUTOR, WEB_PASSPHRASE
from tests.staff_helpers import GOOD_PASSWORD, cheap_argon2, code
from vouchers.staff import accounts, roles
from vouchers.staff.totp import seal_key

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Person:
    username: str
    secret: str


@pytest.fixture(autouse=True)
def _cheap_argon2(monkeypatch):
    cheap_argon2(monkeypatch)


@pytest.fixture
def staff(world) -> dict[str, Person]:
    """One person per role, plus a second distributor's staff member, a maker-approver, a disabled user."""
    key = seal_key(world.store.pepper(WEB_PASSPHRASE))
    people = {role: (role.replace("_", "."), [role], None) for role in roles.ROLES if role != roles.DISTRIBUTOR}
    people["distributor"] = ("dist.one", [roles.DISTRIBUTOR], DISTRIBUTOR)
    people["other_distributor"] = ("dist.two", [roles.DISTRIBUTOR], OTHER_DISTRIBUTOR)
    people["approver2"] = ("approver.two", [roles.APPROVER], None)
    people["maker_approver"] = ("maker.checker", [roles.ISSUER_OPERATOR, roles.APPROVER], None)
    people["disabled"] = ("gone", [roles.FINANCE], None)
    made = {}
    with world.sessions.begin() as s:
        for name, (username, role_list, distributor) in people.items():
            enrolment = accounts.create_staff(s, username=username, roles=role_list, password=GOOD_PASSWORD,
                                              seal_key=key, now=world.now, actor="setup", distributor_id=distributor)
            made[name] = Person(username, enrolment.totp_secret)
        accounts.disable_staff(s, "gone", now=world.now, actor="setup", reason="left")
    return made


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, html[:500]
    return found.group(1)


def login(client, person: Person, at: dt.datetime, *, steps: int = 0, expect: int = 303):
    page = client.get("/console/login")
    response = client.post("/console/login", data={
        "csrf_token": csrf_of(page.get_data(as_text=True)), "username": person.username, "password": GOOD_PASSWORD,
        "totp": code(person.secret, at, steps)})
    assert response.status_code == expect, response.get_data(as_text=True)[:800]
    return response


def token(client, path: str = "/console/") -> str:
    return csrf_of(client.get(path).get_data(as_text=True))
