"""Whole-number settings read from the effective ``VOUCHER_*`` values, checked against their range."""
from __future__ import annotations

from collections.abc import Mapping

from vouchers.errors import ConfigError


def env_int(env: Mapping[str, str], name: str, default: int, minimum: int = 1, maximum: int | None = None) -> int:
    """``env[name]`` as an integer in ``minimum..maximum``; ``default`` when unset or blank; else ConfigError."""
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError as e:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from e
    if value < minimum or (maximum is not None and value > maximum):
        raise ConfigError(f"{name} must be between {minimum} and {maximum if maximum is not None else 'any'}")
    return value
