"""The ``branding.*`` settings (``VOUCHER_BRAND_*``) as one checked :class:`vouchers.branding.Branding`.

Read at the edge (CLI context, web app factory) from the effective settings; the logo file is read
here once, so a bad path or a file that is neither PNG nor SVG stops the program with one line naming
the setting, before anything is printed.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

from vouchers.branding import LOGO_MAX_BYTES, NEUTRAL, Branding, InvalidBranding, logo_type
from vouchers.errors import ConfigError

_TEXT_KEYS = {
    "name_zh": "VOUCHER_BRAND_NAME_ZH", "name_en": "VOUCHER_BRAND_NAME_EN",
    "redeem_url": "VOUCHER_BRAND_REDEEM_URL", "qr_url": "VOUCHER_BRAND_QR_URL",
    "hotline": "VOUCHER_BRAND_HOTLINE", "sms_number": "VOUCHER_BRAND_SMS_NUMBER",
    "terms_zh": "VOUCHER_BRAND_TERMS_ZH", "terms_en": "VOUCHER_BRAND_TERMS_EN",
    "primary_colour": "VOUCHER_BRAND_PRIMARY_COLOUR", "accent_colour": "VOUCHER_BRAND_ACCENT_COLOUR",
}
LOGO_KEY = "VOUCHER_BRAND_LOGO"
BRAND_KEYS = (*_TEXT_KEYS.values(), LOGO_KEY)


def read_logo(raw: str) -> bytes:
    """The logo file's bytes, checked: it exists, is small enough, and is PNG or SVG."""
    path = Path(raw).expanduser()
    try:
        if not path.is_file():
            raise ConfigError(f"{LOGO_KEY}: no logo file {path}")
        if path.stat().st_size > LOGO_MAX_BYTES:
            raise ConfigError(f"{LOGO_KEY}: {path} is larger than {LOGO_MAX_BYTES // 1024} KiB")
        data = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"{LOGO_KEY}: cannot read {path}: {e.strerror or type(e).__name__}") from e
    try:
        logo_type(data)
    except InvalidBranding as e:
        raise ConfigError(f"{LOGO_KEY}: {path} is not a PNG or SVG file") from e
    return data


def load_branding(env: Mapping[str, str]) -> Branding:
    """The branding in force: the neutral default overlaid by every ``VOUCHER_BRAND_*`` value set.

    ``is_default`` stays true while any of the names, URLs or the hotline is still the placeholder's.
    """
    given = {field: env[key] for field, key in _TEXT_KEYS.items() if env.get(key, "") != ""}
    logo_raw = env.get(LOGO_KEY, "")
    if not given and not logo_raw:
        return NEUTRAL
    values = dataclasses.asdict(NEUTRAL) | given
    if "qr_url" not in given and "redeem_url" in given:
        values["qr_url"] = given["redeem_url"]
    if "sms_number" not in given and "hotline" in given:
        values["sms_number"] = given["hotline"]
    values["logo"] = read_logo(logo_raw) if logo_raw else None
    values["is_default"] = False
    try:
        branding = Branding(**values)
        return dataclasses.replace(branding, is_default=bool(branding.placeholders()))
    except InvalidBranding as e:
        field = str(e).split(":", 1)[0].removeprefix("branding.")
        key = _TEXT_KEYS.get(field, LOGO_KEY)
        raise ConfigError(f"{key} ({str(e)})") from e
