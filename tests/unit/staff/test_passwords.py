"""Passwords: NIST SP 800-63B length and blocklist rules (no composition rules), Argon2id at the production cost."""
from __future__ import annotations

import pytest

from tests.staff_helpers import cheap_argon2
from vouchers.staff import passwords


def test_the_common_password_list_is_shipped_with_its_source():
    assert len(passwords.common_passwords()) >= 10_000
    assert "password" in passwords.common_passwords() and "1qaz2wsx3edc" in passwords.common_passwords()


@pytest.mark.parametrize(("password", "words"), [
    ("elevenchars", "at least 12"),
    ("x" * 257, "at most 256"),
    ("1qaz2wsx3edc", "common passwords"),
    ("Q1W2E3R4T5Y6", "common passwords"),  # compared case-insensitively
    ("alice.longname", "not be the username"),
])
def test_refused(password, words):
    with pytest.raises(passwords.WeakPassword, match=words) as caught:
        passwords.check_password(password, username="alice.longname")
    assert password not in str(caught.value)


@pytest.mark.parametrize("password", ["correct horse battery staple", "aaaaaaaaaaaa", "电费充值卡管理台的登录密码", "ＡＢＣＤＥＦＧＨＩＪＫＬ"])
def test_no_composition_rules(password):
    passwords.check_password(password, username="alice")


def test_argon2id_at_the_production_cost():
    stored = passwords.hash_password("correct horse battery staple")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert not passwords.verify_password(stored, "correct horse battery stapler")


def test_verify_normalises_and_unknown_users_cost_a_verification(monkeypatch):
    cheap_argon2(monkeypatch)
    stored = passwords.hash_password("ＡＢＣＤＥＦＧＨＩＪＫＬ")
    assert passwords.verify_password(stored, "ABCDEFGHIJKL")  # NFKC: the full-width form is the same password
    assert not passwords.verify_password(None, "ABCDEFGHIJKL")  # unknown user: a dummy hash is verified
