from __future__ import annotations

import json

import pytest

from vouchers.notify.errors import RenderError
from vouchers.notify.render import format_money, group_token, render, to_fen

TOKEN = "59386323472137426967"
REDEEMED = {"template": "voucher_redeemed", "serial": "01-000123-0000042-7", "amount": "1234.50",
            "currency": "CNY", "account_no": "3300012345", "applied_to_arrears": "34.50",
            "credited_to_balance": "1200.00", "balance": "1210.05"}


@pytest.mark.parametrize(("text", "fen"), [("100.00", 10000), ("0.5", 50), ("-3.07", -307), (" 12 ", 1200), (7, 7)])
def test_to_fen(text, fen):
    assert to_fen(text) == fen


@pytest.mark.parametrize("bad", [1.5, "1.234", "abc", None, True, "1e3"])
def test_to_fen_refuses_floats_and_junk(bad):
    with pytest.raises(RenderError):
        to_fen(bad)


def test_format_money_zh_en_grouping_and_sign():
    assert format_money(123456789, "zh") == "1,234,567.89元"
    assert format_money(5, "en") == "CNY 0.05"
    assert format_money(-120, "zh") == "-1.20元"
    assert format_money(10000, "en", "USD") == "USD 100.00"
    with pytest.raises(RenderError):
        format_money(1.0, "zh")  # type: ignore[arg-type]


def test_group_token_four_by_five():
    assert group_token(TOKEN) == "5938 6323 4721 3742 6967"
    assert group_token("5938 6323 4721 3742 6967") == "5938 6323 4721 3742 6967"
    assert group_token("5938-6323-4721-3742-6967") == "5938 6323 4721 3742 6967"
    for bad in ("1234", TOKEN + "1", "５938632347213742696７"):
        with pytest.raises(RenderError):
            group_token(bad)


def test_voucher_redeemed_zh_default_and_en():
    zh = render("sms.voucher_redeemed", json.dumps(REDEEMED))
    assert "1,234.50元" in zh and "34.50元" in zh and "1,210.05元" in zh and "3300012345" in zh
    assert "01-000123-0000042-7" in zh and "电表充值码" not in zh
    en = render("sms.voucher_redeemed", REDEEMED, lang="en")
    assert "CNY 1,234.50" in en and "balance CNY 1,210.05" in en and "元" not in en


def test_redeemed_with_sts_token_carries_grouped_token():
    payload = {**REDEEMED, "sts": {"token": TOKEN, "kwh": "12.3", "meter": "600727000000000009", "kind": "credit"}}
    assert "5938 6323 4721 3742 6967" in render("sms.voucher_redeemed", payload)
    assert "(12.3 kWh)" in render("sms.voucher_redeemed", payload, lang="en")


def test_sts_token_message():
    payload = {"template": "sts_token", "payment_id": "P1", "amount": "50.00", "currency": "CNY",
               "sts": {"token": "5938 6323 4721 3742 6967", "kwh": "90.1"}}
    zh = render("sms.sts_token", payload)
    assert "50.00元" in zh and "5938 6323 4721 3742 6967" in zh and "90.1度" in zh
    with pytest.raises(RenderError):
        render("sms.sts_token", {**payload, "sts": {}})


def test_metering_notices_by_kind():
    warn = render("low_balance_warning", {"account_no": "A1", "available_balance": "12.00", "threshold": "30.00"})
    assert "12.00元" in warn and "30.00元" in warn
    notice = render("zero_balance_notice", {"account_no": "A1", "available_balance": "-5.10",
                                            "disconnect_at": "2026-11-28T00:00:00+00:00"}, lang="en")
    assert "CNY -5.10" in notice and "2026-11-28 08:00" in notice  # shown in Beijing time
    assert "复电" in render("supply_restored", {"account_no": "A1", "available_balance": "3.00"})


@pytest.mark.parametrize(("kind", "payload", "lang"), [
    ("sms.unknown", {}, "zh"), ("low_balance_warning", "not json", "zh"),
    ("low_balance_warning", {"account_no": "A1", "threshold": "30.00"}, "zh"),
    ("supply_restored", {"available_balance": "3.00"}, "fr")])
def test_unrenderable(kind, payload, lang):
    with pytest.raises(RenderError):
        render(kind, payload if isinstance(payload, str) else json.dumps(payload), lang=lang)
