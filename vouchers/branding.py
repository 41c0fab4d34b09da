"""The utility's brand as one checked value: names, links, numbers, terms, colours and logo.

Configured once (``[branding]`` in the configuration file, see docs/configuration.md) and used by
every customer-facing surface: card layouts, receipts, bills, report covers and the ``/redeem`` page.
A fresh install gets :data:`NEUTRAL`, which says on its face that it is not a real utility, so no
card is ever printed with somebody else's brand by accident.

A batch keeps the branding it was first printed with (:meth:`Branding.to_document`), so a reprint
looks like the original whatever the configuration says today. Pure: no file is read here; the
logo arrives as bytes (``vouchers.config.branding`` reads the file).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from vouchers.errors import VoucherError
from vouchers.token import qr_fragment

_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
# scheme://host[:port][/path], no query and no fragment: the QR appends "#<token>"
_URL = re.compile(r"^(https://[A-Za-z0-9.-]+(?::[0-9]{1,5})?|http://(?:localhost|127\.0\.0\.1)(?::[0-9]{1,5})?)"
                  r"(/[A-Za-z0-9._~/%-]*)?$")
_PHONE = re.compile(r"^[0-9+() -]{3,20}$")
LOGO_MAX_BYTES = 256 * 1024
LOGO_TYPES = ("png", "svg")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TERMS_MAX = 600
DOCUMENT_VERSION = 1


class InvalidBranding(VoucherError, ValueError):
    """A branding value that cannot be printed or shown (the message names the setting)."""

    code = "invalid_branding"


def logo_type(data: bytes) -> str:
    """``"png"`` or ``"svg"`` from the file's content (not its name); InvalidBranding otherwise."""
    if data.startswith(_PNG_MAGIC):
        return "png"
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if (head.startswith(b"<svg") or head.startswith(b"<?xml")) and b"<svg" in data[:4096].lower():
        return "svg"
    raise InvalidBranding("logo: not a PNG or SVG file")


@dataclass(frozen=True, slots=True)
class Branding:
    """Everything that names the utility to its customers.

    ``redeem_url`` is the page customers open and the address printed on cards; ``qr_url`` the
    shorter address the card's QR code opens, with the token in its fragment (never sent to a
    server, so never in an access log). Colours are ``#rrggbb`` (cards print them converted to
    CMYK). ``logo`` is PNG or SVG bytes or None.
    """

    name_zh: str
    name_en: str
    redeem_url: str
    qr_url: str
    hotline: str
    sms_number: str
    terms_zh: str
    terms_en: str
    primary_colour: str
    accent_colour: str
    logo: bytes | None = None
    is_default: bool = False

    def __post_init__(self) -> None:
        for name in ("name_zh", "name_en", "terms_zh", "terms_en"):
            value = getattr(self, name)
            limit = TERMS_MAX if name.startswith("terms") else 60
            if not isinstance(value, str) or not value.strip() or len(value) > limit or not value.isprintable():
                raise InvalidBranding(f"branding.{name}: must be one line of 1..{limit} printable characters")
        for name in ("redeem_url", "qr_url"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _URL.match(value) or len(value) > 120:
                raise InvalidBranding(f"branding.{name}: must be an https:// URL without query or fragment "
                                      f"(http:// only to localhost), at most 120 characters, got {value!r}")
        for name in ("hotline", "sms_number"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _PHONE.match(value):
                raise InvalidBranding(f"branding.{name}: must be a phone number (digits, spaces, + - ( )), "
                                      f"got {value!r}")
        for name in ("primary_colour", "accent_colour"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _COLOUR.match(value):
                raise InvalidBranding(f"branding.{name}: must be a colour like #1a4f9c, got {value!r}")
        if self.logo is not None:
            if not isinstance(self.logo, bytes) or not self.logo:
                raise InvalidBranding("branding.logo: must be the bytes of a PNG or SVG file")
            if len(self.logo) > LOGO_MAX_BYTES:
                raise InvalidBranding(f"branding.logo: larger than {LOGO_MAX_BYTES // 1024} KiB")
            logo_type(self.logo)

    @property
    def utility_name(self) -> str:
        """The bilingual name cards print: "国网某某供电公司 Someplace Power"."""
        return f"{self.name_zh} {self.name_en}"

    @property
    def logo_type(self) -> str | None:
        return None if self.logo is None else logo_type(self.logo)

    @property
    def logo_sha256(self) -> str | None:
        return None if self.logo is None else hashlib.sha256(self.logo).hexdigest()

    def qr_text(self, token: str) -> str:
        """What a card's QR code holds: the QR URL with the signed token as its fragment."""
        return f"{self.qr_url}#{qr_fragment(token)}"

    def placeholders(self) -> list[str]:
        """The customer-facing settings still at the neutral placeholder's value (a warning's list)."""
        return [name for name in IDENTITY_FIELDS if getattr(self, name) == getattr(NEUTRAL, name)]

    def to_document(self) -> dict[str, object]:
        """A JSON-ready record of this branding (the logo as base64), kept with a printed batch."""
        return {
            "version": DOCUMENT_VERSION,
            "name_zh": self.name_zh, "name_en": self.name_en,
            "redeem_url": self.redeem_url, "qr_url": self.qr_url,
            "hotline": self.hotline, "sms_number": self.sms_number,
            "terms_zh": self.terms_zh, "terms_en": self.terms_en,
            "primary_colour": self.primary_colour, "accent_colour": self.accent_colour,
            "logo": None if self.logo is None else base64.b64encode(self.logo).decode("ascii"),
            "is_default": self.is_default,
        }

    @classmethod
    def from_document(cls, document: object) -> Branding:
        """The inverse of :meth:`to_document`; InvalidBranding if the record is damaged."""
        if not isinstance(document, dict) or document.get("version") != DOCUMENT_VERSION:
            raise InvalidBranding("branding record: unknown format")
        try:
            logo_text = document.get("logo")
            logo = None if logo_text is None else base64.b64decode(str(logo_text), validate=True)
            fields = {name: document[name] for name in (
                "name_zh", "name_en", "redeem_url", "qr_url", "hotline", "sms_number", "terms_zh", "terms_en",
                "primary_colour", "accent_colour")}
            return cls(**fields, logo=logo, is_default=bool(document.get("is_default", False)))
        except (KeyError, TypeError, binascii.Error) as e:
            raise InvalidBranding(f"branding record: damaged ({type(e).__name__})") from e


# what makes a brand somebody's: while any is the placeholder's, `voucherctl branding show` warns
IDENTITY_FIELDS = ("name_zh", "name_en", "redeem_url", "qr_url", "hotline")

# A fresh install: plainly not a real utility ("not configured" in its name, reserved example
# domain), so nobody mistakes it for a brand; `voucherctl branding show` warns while it is in force.
NEUTRAL = Branding(
    name_zh="示例电力（未配置）",
    name_en="Example Power (unset)",
    redeem_url="https://pay.utility.example/redeem",
    qr_url="https://pay.utility.example/r",
    hotline="00000",
    sms_number="00000",
    # printed on every card's back (next to how to redeem: web, SMS, service hall, hotline) and on /redeem
    terms_zh="本卡仅限充值电费，不记名、不挂失，不兑换现金、不找零、不退款。请在卡面有效期内充值，过期作废。"
             "卡密充值后即失效，请勿告诉他人。充值前请核对户号和户主，充错户号无法退回。",
    terms_en="For electricity top-up only. Not registered, not replaceable; no cash refund or change. "
             "Use before the expiry date on the front; expired cards are void. The code is void once used: "
             "never share it. Check the account number and holder before confirming: money credited to a "
             "wrong account cannot be returned.",
    primary_colour="#1a4f9c",
    accent_colour="#b0201e",
    logo=None,
    is_default=True,
)
