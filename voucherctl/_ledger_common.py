"""Helpers shared by the books' commands: dates, amounts, the business day."""
from __future__ import annotations

import datetime as dt

from voucherctl import context
from voucherctl.output import CliError
from vouchers.errors import InvalidMoney
from vouchers.money import format_amount, parse_amount, parse_positive_amount


def parse_date(text: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except (TypeError, ValueError) as e:
        raise CliError(f"{option} must be a date like 2026-11-30, got {text!r}") from e


def parse_money(text: str, option: str, *, positive: bool = False) -> int:
    try:
        return parse_positive_amount(text) if positive else parse_amount(text)
    except InvalidMoney as e:
        raise CliError(f"{option}: {e}") from e


def today() -> dt.date:
    return context.settings().local_date(context.now())


def money(minor: int) -> str:
    return format_amount(int(minor))
