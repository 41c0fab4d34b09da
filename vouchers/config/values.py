"""One setting's text (file or environment) as a typed value, checked against its row of the key table.

The kind, range and choices come from :data:`vouchers.config.keys.KEYS`, so a bound is written once:
the TOML reader (:mod:`vouchers.config.file`) and these parsers check the same row. A value that
cannot be used is a :class:`ConfigError` of one line naming the variable.
"""
from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vouchers.config.keys import BY_ENV
from vouchers.errors import ConfigError, InvalidMoney
from vouchers.money import parse_amount
from vouchers.setting_values import env_int

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def typed(values: Mapping[str, str], name: str) -> Any:
    """The value of ``name`` in its key's type; None when unset or blank (the caller's default applies).

    integer -> int, number -> float, boolean -> bool, amount -> minor units (int), list -> tuple of str,
    path -> Path, string and timezone -> str.
    """
    key = BY_ENV[name]
    raw = values.get(name)
    if raw is None or raw.strip() == "":
        return None
    raw = raw.strip()
    kind = key.kind
    if kind == "integer":
        low = int(key.minimum) if key.minimum is not None else 0
        high = int(key.maximum) if key.maximum is not None else None
        return env_int(values, name, 0, low, high)
    if kind == "number":
        try:
            number = float(raw)
        except ValueError as e:
            raise ConfigError(f"{name} must be a number, got {raw!r}") from e
        if (key.minimum is not None and number < key.minimum) or (key.maximum is not None and number > key.maximum):
            raise ConfigError(f"{name} must be between {key.minimum} and {key.maximum if key.maximum is not None else 'any'}")
        return number
    if kind == "boolean":
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise ConfigError(f"{name} must be 1/0, true/false or yes/no, got {raw!r}")
    if kind == "amount":
        try:
            return parse_amount(raw)
        except InvalidMoney as e:
            raise ConfigError(f"{name}: {e}") from e
    if kind == "list":
        return tuple(item.strip() for item in raw.replace(";", ",").split(",") if item.strip())
    if kind == "path":
        return Path(raw).expanduser()
    if key.choices and raw.lower() not in key.choices:
        raise ConfigError(f"{name} must be one of {', '.join(key.choices)}, got {raw!r}")
    if key.choices:
        return raw.lower()
    if kind == "timezone" and not known_zone(raw):
        raise ConfigError(f"{name}: unknown time zone {raw!r}")
    return raw


def known_zone(name: str) -> bool:
    """Is ``name`` an IANA time zone this machine knows?"""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def given(values: Mapping[str, str], fields: Mapping[str, str]) -> dict[str, Any]:
    """``{field: typed value}`` of the set ones among ``{field: variable name}``: the rest keep their defaults."""
    found = {field: typed(values, name) for field, name in fields.items()}
    return {field: value for field, value in found.items() if value is not None}
