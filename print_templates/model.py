"""The values printing takes in and gives back."""
from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from print_templates.errors import InvalidCardData
from vouchers.branding import NEUTRAL, Branding
from vouchers.codes import CODE_LENGTH, normalize_code
from vouchers.errors import VoucherError
from vouchers.money import check_currency, format_amount
from vouchers.serials import SERIAL_LENGTH, Serial
from vouchers.token import MAX_TOKEN_LENGTH, PREFIX

# The QR alphanumeric alphabet (ISO/IEC 18004): what Base45 and "EV1:" use.
QR_ALPHANUMERIC = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
CARD_DATA_HEADER = "serial,code,token,face_value,currency,expires\n"


def _is_date(value: object) -> bool:
    return isinstance(value, dt.date) and not isinstance(value, dt.datetime)


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


@dataclass(frozen=True, slots=True)
class CardRecord:
    """One voucher to print. ``code`` is the 20-digit secret without separators;
    ``token`` the EV1 text for the QR code; ``face_value`` in minor units."""

    serial: str
    code: str
    token: str
    face_value: int
    currency: str
    expires: dt.date

    def __post_init__(self) -> None:
        # Messages name the serial only: never the code or the token.
        try:
            if not isinstance(self.serial, str) or len(self.serial) != SERIAL_LENGTH:
                raise InvalidCardData(f"serial must be {SERIAL_LENGTH} digits")
            Serial.parse(self.serial)
        except VoucherError as e:
            raise InvalidCardData(f"card {self.serial!r}: serial check digit does not match") from e
        if not isinstance(self.code, str) or len(self.code) != CODE_LENGTH:
            raise InvalidCardData(f"card {self.serial}: code must be {CODE_LENGTH} digits without separators")
        try:
            normalize_code(self.code)
        except VoucherError as e:
            raise InvalidCardData(f"card {self.serial}: code is not a valid {CODE_LENGTH}-digit code") from e
        if (
            not isinstance(self.token, str)
            or not self.token.startswith(PREFIX)
            or len(self.token) > MAX_TOKEN_LENGTH
            or not QR_ALPHANUMERIC.issuperset(self.token)
        ):
            raise InvalidCardData(f"card {self.serial}: token is not an EV1 token in the QR alphanumeric alphabet")
        if not _positive_int(self.face_value):
            raise InvalidCardData(f"card {self.serial}: face_value must be a positive int of minor units")
        try:
            check_currency(self.currency)
        except VoucherError as e:
            raise InvalidCardData(f"card {self.serial}: {e}") from e
        if not _is_date(self.expires):
            raise InvalidCardData(f"card {self.serial}: expires must be a datetime.date")

    def csv_line(self) -> str:
        """The card as a row of the print-house CSV (docs/contract.md §6.1), with "\\n"."""
        return (
            f"{self.serial},{self.code},{self.token},{format_amount(self.face_value)},"
            f"{self.currency},{self.expires.isoformat()}\n"
        )


class CardDataHasher:
    """SHA-256 of the card data in its canonical form: UTF-8, the CSV header
    ``serial,code,token,face_value,currency,expires`` then one row per card in
    print order, every line ended by a single "\\n" (the print-house CSV layout
    of docs/contract.md §6.1, LF line ends)."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256(CARD_DATA_HEADER.encode("ascii"))
        self.count = 0

    def update(self, card: CardRecord) -> None:
        self._hash.update(card.csv_line().encode("utf-8"))
        self.count += 1

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def card_data_sha256(cards: Iterable[CardRecord]) -> str:
    """The value :class:`BatchCover` expects in ``card_data_sha256``."""
    hasher = CardDataHasher()
    for card in cards:
        hasher.update(card)
    return hasher.hexdigest()


@dataclass(frozen=True, slots=True)
class BatchCover:
    """What the batch cover page states; the cards streamed must agree with it.

    ``printed_at`` must be timezone-aware, in the business time zone (it is printed as local time with its
    UTC offset: ``2026-12-06 09:00 (UTC+8)``).
    ``utility_name`` None means the :class:`PrintBranding` one.
    """

    batch_id: str
    face_value: int
    currency: str
    count: int
    first_serial: str
    last_serial: str
    expires: dt.date
    key_id: str
    card_data_sha256: str
    printed_at: dt.datetime
    operator: str
    utility_name: str | None = None

    def __post_init__(self) -> None:
        def bad(message: str) -> InvalidCardData:
            return InvalidCardData(f"batch cover: {message}")

        for name in ("batch_id", "key_id", "operator"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise bad(f"{name} must be non-empty text")
        if not _positive_int(self.face_value):
            raise bad("face_value must be a positive int of minor units")
        try:
            check_currency(self.currency)
        except VoucherError as e:
            raise bad(str(e)) from e
        if not _positive_int(self.count):
            raise bad("count must be a positive int")
        for name in ("first_serial", "last_serial"):
            try:
                Serial.parse(getattr(self, name))
            except VoucherError as e:
                raise bad(f"{name} is not a valid serial") from e
        if not _is_date(self.expires):
            raise bad("expires must be a datetime.date")
        if not isinstance(self.card_data_sha256, str) or not _SHA256_HEX.match(self.card_data_sha256):
            raise bad("card_data_sha256 must be 64 lowercase hex digits")
        if not isinstance(self.printed_at, dt.datetime) or self.printed_at.utcoffset() is None:
            raise bad("printed_at must be a timezone-aware datetime")
        if self.utility_name is not None and (not isinstance(self.utility_name, str) or not self.utility_name.strip()):
            raise bad("utility_name must be None or non-empty text")


@dataclass(frozen=True, slots=True)
class PrintBranding:
    """Utility-specific text, colours and logo printed on every card.

    Build it from the configured :class:`vouchers.branding.Branding` with :meth:`from_branding`;
    the defaults are the neutral, clearly unconfigured ones (:data:`vouchers.branding.NEUTRAL`).
    ``qr_url`` None prints the bare EV1 token in the QR code (cards made before QR URLs).
    """

    utility_name: str = NEUTRAL.utility_name
    web_address: str = NEUTRAL.redeem_url
    sms_number: str = NEUTRAL.sms_number
    hotline: str = NEUTRAL.hotline
    qr_url: str | None = NEUTRAL.qr_url
    terms: str = f"{NEUTRAL.terms_zh} {NEUTRAL.terms_en}"
    terms_zh: str = NEUTRAL.terms_zh  # the card back's terms of use, one paragraph per language
    terms_en: str = NEUTRAL.terms_en
    primary_colour: str = NEUTRAL.primary_colour
    accent_colour: str = NEUTRAL.accent_colour
    logo: bytes | None = None

    def __post_init__(self) -> None:
        for name in ("utility_name", "web_address", "sms_number", "hotline", "terms", "terms_zh", "terms_en"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip() or "\n" in value:
                raise InvalidCardData(f"branding: {name} must be one line of non-empty text")
        if self.qr_url is not None and (not isinstance(self.qr_url, str) or not self.qr_url.startswith(("https://", "http://"))
                                        or "#" in self.qr_url):
            raise InvalidCardData("branding: qr_url must be an http(s) URL without a fragment, or None")
        for name in ("primary_colour", "accent_colour"):
            if not _COLOUR.match(getattr(self, name)):
                raise InvalidCardData(f"branding: {name} must be a colour like #1a4f9c")

    @classmethod
    def from_branding(cls, branding: Branding) -> PrintBranding:
        return cls(utility_name=branding.utility_name, web_address=branding.redeem_url,
                   sms_number=branding.sms_number, hotline=branding.hotline, qr_url=branding.qr_url,
                   terms=f"{branding.terms_zh} {branding.terms_en}", terms_zh=branding.terms_zh,
                   terms_en=branding.terms_en, primary_colour=branding.primary_colour,
                   accent_colour=branding.accent_colour, logo=branding.logo)

    @property
    def qr_prefix(self) -> str:
        """What the QR holds before the token: the QR URL and "#", or nothing."""
        return "" if self.qr_url is None else self.qr_url + "#"

    def rgb(self, role: str) -> tuple[float, float, float]:
        value = self.primary_colour if role == "primary" else self.accent_colour
        return tuple(int(value[i : i + 2], 16) / 255.0 for i in (1, 3, 5))  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class RenderedFile:
    """One PDF written by :func:`print_templates.render_batch`."""

    path: Path
    sha256: str  # of the whole file, lowercase hex
    card_count: int
    first_serial: str = ""
    last_serial: str = ""
    pages: int = 0  # including the cover page
