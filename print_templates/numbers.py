"""Money and numbers as a reader of ``zh`` or ``en`` expects them (Babel's CLDR data): ``¥10,529.88``.

Amounts arrive as integer minor units and go to Babel as exact Decimals (never floats).
The machine formats (CSV, JSON) keep :func:`vouchers.money.format_amount`.
"""
from __future__ import annotations

from decimal import Decimal
from functools import lru_cache

from babel import Locale
from babel.numbers import format_currency, format_decimal

from vouchers.money import CURRENCIES

_LOCALES = {"zh": "zh_Hans_CN", "en": "en"}


@lru_cache(maxsize=None)
def _locale(lang: str) -> Locale:
    return Locale.parse(_LOCALES.get(lang, "en"))


def _major(minor: int, currency: str) -> Decimal:
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise TypeError(f"minor units must be an int, not {type(minor).__name__}")
    digits = CURRENCIES.get(currency, 2)
    return Decimal(minor).scaleb(-digits)


def money_text(minor: int, currency: str, lang: str = "zh") -> str:
    """``1052988, "CNY", "zh" -> "¥10,529.88"`` (en: ``CN¥10,529.88``, Babel's name for the yuan in English)."""
    return format_currency(_major(minor, currency), currency, locale=_locale(lang))


def amount_text(minor: int, currency: str = "CNY", lang: str = "zh") -> str:
    """An amount without the currency sign, grouped: ``10,529.88`` (table cells under a header naming it)."""
    digits = CURRENCIES.get(currency, 2)
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(_major(minor, currency), format=pattern, locale=_locale(lang))


def number_text(value: int | Decimal, lang: str = "zh") -> str:
    """A count or quantity, grouped: ``12,345``."""
    return format_decimal(value, locale=_locale(lang))


def currency_unit(currency: str, lang: str = "zh") -> str:
    """The unit for a chart axis or a column header: ``元`` / ``CNY`` for the yuan, else the ISO code."""
    if currency == "CNY" and lang == "zh":
        return "元"
    return currency


__all__ = ["amount_text", "currency_unit", "money_text", "number_text"]
