"""``voucherctl branding show``: what is in force, a warning while the neutral default is, one-line errors."""
from __future__ import annotations

import json

import pytest

from tests.inprocess_cli import in_process_cli

PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478"
                    "9c6360f8cfc0f01f0005000201e5270ee30000000049454e44ae426082")


@pytest.fixture
def run(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.delenv("VOUCHER_CONFIG", raising=False)
    for name in [n for n in __import__("os").environ if n.startswith("VOUCHER_BRAND_")]:
        monkeypatch.delenv(name)
    yield from in_process_cli(f"sqlite:///{tmp_path / 'unused.db'}", home, monkeypatch, capsys)


def _reload():
    from voucherctl import context

    context.settings.cache_clear()
    context.branding.cache_clear()


def test_branding_show_warns_on_the_default_and_prints_a_configured_brand(run, tmp_path):
    code, out, err = run("branding", "show")
    assert code == 0
    assert "name_zh" in out and "示例电力（未配置）" in out and "https://pay.utility.example/r#EV1:..." in out
    assert err.startswith("warning: branding not configured (name_zh, name_en, redeem_url, qr_url, hotline still")
    assert err.count("\n") == 1

    (tmp_path / "logo.png").write_bytes(PNG)
    (tmp_path / "home" / "voucher.toml").write_text(
        '[branding]\nname_zh = "测试供电公司"\nname_en = "Acme Power"\nqr_url = "https://pay.acme.example/r"\n'
        'redeem_url = "https://pay.acme.example/redeem"\n'
        f'hotline = "400 100 2000"\nlogo = "{tmp_path / "logo.png"}"\n', encoding="utf-8")
    _reload()
    code, out, err = run("branding", "show", "--json")
    assert code == 0 and err == ""
    shown = json.loads(out)
    assert (shown["name_en"], shown["hotline"], shown["is_default"]) == ("Acme Power", "400 100 2000", False)
    assert shown["qr_example"] == "https://pay.acme.example/r#EV1:..."
    assert shown["logo"]["type"] == "png" and shown["logo"]["bytes"] == len(PNG)
    assert shown["source"].endswith("voucher.toml")


def test_a_half_configured_brand_still_warns(run, tmp_path):
    (tmp_path / "home" / "voucher.toml").write_text('[branding]\nhotline = "400 100 2000"\n', encoding="utf-8")
    _reload()
    code, out, err = run("branding", "show", "--json")
    assert code == 0 and json.loads(out)["is_default"] is True
    assert "(name_zh, name_en, redeem_url, qr_url still the neutral placeholder)" in err


def test_a_bad_logo_is_one_line_and_a_non_zero_exit(run, tmp_path):
    (tmp_path / "home" / "voucher.toml").write_text('[branding]\nlogo = "/no/such/logo.svg"\n', encoding="utf-8")
    _reload()
    code, out, err = run("branding", "show")
    assert code != 0 and out == ""
    assert "VOUCHER_BRAND_LOGO: no logo file /no/such/logo.svg" in err and err.count("\n") == 1
