"""``[branding]`` / ``VOUCHER_BRAND_*``: the neutral default, a configured brand, and one-line errors."""
from __future__ import annotations

from pathlib import Path

import pytest

from vouchers.branding import NEUTRAL, Branding, InvalidBranding
from vouchers.config import ConfigError, load_settings
from vouchers.config.branding import load_branding

PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478"
                    "9c6360f8cfc0f01f0005000201e5270ee30000000049454e44ae426082")
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><rect width="40" height="20"/></svg>'


def branding_from(tmp_path: Path, toml: str, **env: str) -> Branding:
    (tmp_path / "voucher.toml").write_text(toml, encoding="utf-8")
    return load_settings({"VOUCHER_HOME": str(tmp_path), **env}).branding


def error(tmp_path: Path, toml: str) -> str:
    with pytest.raises(ConfigError) as caught:
        branding_from(tmp_path, toml)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_nothing_configured_is_the_neutral_default_and_says_so():
    b = load_branding({})
    assert b is NEUTRAL and b.is_default
    assert "未配置" in b.name_zh and "unset" in b.name_en and b.redeem_url.endswith(".example/redeem")
    assert "95598" not in b.hotline and "State Grid" not in b.utility_name


def test_a_configured_brand_from_the_file_with_a_logo(tmp_path):
    (tmp_path / "logo.svg").write_bytes(SVG)
    b = branding_from(tmp_path, f'''
[branding]
name_zh = "测试供电公司"
name_en = "Acme Power"
redeem_url = "https://pay.acme.example/redeem"
hotline = "400 100 2000"
primary_colour = "#336699"
logo = "{tmp_path / 'logo.svg'}"
''')
    assert not b.is_default and b.utility_name == "测试供电公司 Acme Power"
    assert b.qr_url == "https://pay.acme.example/redeem"  # the QR opens the redeem page unless told otherwise
    assert b.sms_number == "400 100 2000"  # the hotline, unless told otherwise
    assert b.logo == SVG and b.logo_type == "svg" and b.accent_colour == NEUTRAL.accent_colour
    assert b.qr_text("EV1:A B%C") == "https://pay.acme.example/redeem#EV1:A%20B%25C"
    assert Branding.from_document(b.to_document()) == b  # what a printed batch keeps


def test_the_environment_wins_over_the_file(tmp_path):
    b = branding_from(tmp_path, '[branding]\nname_en = "Acme Power"\n', VOUCHER_BRAND_NAME_EN="Other Power",
                      VOUCHER_BRAND_QR_URL="https://acme.example/r")
    assert b.name_en == "Other Power" and b.qr_url == "https://acme.example/r"


@pytest.mark.parametrize(("toml", "expected"), [
    ('logo = "/no/such/logo.png"', "VOUCHER_BRAND_LOGO: no logo file /no/such/logo.png"),
    ('logo = "{tmp}/notes.txt"', "is not a PNG or SVG file"),
    ('primary_colour = "blue"', "VOUCHER_BRAND_PRIMARY_COLOUR (branding.primary_colour: must be a colour like #1a4f9c"),
    ('accent_colour = "#12345"', "VOUCHER_BRAND_ACCENT_COLOUR"),
    ('redeem_url = "http://pay.acme.example/redeem"', "VOUCHER_BRAND_REDEEM_URL (branding.redeem_url: must be an https://"),
    ('qr_url = "https://acme.example/r#x"', "VOUCHER_BRAND_QR_URL"),
    ('hotline = "call us"', "VOUCHER_BRAND_HOTLINE"),
    ('name_en = "two\\nlines"', "VOUCHER_BRAND_NAME_EN"),
    ('colour = "#000000"', "unknown key 'branding.colour'"),
])
def test_bad_values_stop_with_one_line_naming_the_setting(tmp_path, toml, expected):
    (tmp_path / "notes.txt").write_text("not a picture")
    message = error(tmp_path, "[branding]\n" + toml.replace("{tmp}", str(tmp_path)) + "\n")
    assert expected.replace("{tmp}", str(tmp_path)) in message


def test_a_logo_must_be_small_and_a_batch_record_must_be_whole(tmp_path):
    big = tmp_path / "big.png"
    big.write_bytes(PNG + b"\0" * 300_000)
    assert "larger than 256 KiB" in error(tmp_path, f'[branding]\nlogo = "{big}"\n')
    (tmp_path / "logo.png").write_bytes(PNG)
    assert branding_from(tmp_path, f'[branding]\nlogo = "{tmp_path / "logo.png"}"\n').logo_type == "png"
    with pytest.raises(InvalidBranding, match="damaged"):
        Branding.from_document({**NEUTRAL.to_document(), "logo": "not base64!"})
