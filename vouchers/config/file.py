"""Reading the TOML configuration file into the environment's form (``VOUCHER_*`` name -> text).

Each value is checked against :data:`vouchers.config.keys.KEYS` here, so a mistake in the file is one
line naming the file and the TOML key; the text form then goes through the same parsers as an
environment variable, so a value means the same wherever it is written.
"""
from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from vouchers.config.keys import BY_TOML, SECTIONS, Key
from vouchers.config.values import known_zone
from vouchers.errors import ConfigError, InvalidMoney
from vouchers.money import parse_amount

FILE_NAME = "voucher.toml"


def config_path(environ: Mapping[str, str]) -> Path | None:
    """``VOUCHER_CONFIG`` (must exist), else ``$VOUCHER_HOME/voucher.toml`` if it exists, else None."""
    named = environ.get("VOUCHER_CONFIG") or ""
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise ConfigError(f"VOUCHER_CONFIG: no configuration file {path}")
        return path
    default = Path(environ.get("VOUCHER_HOME") or "./var").expanduser() / FILE_NAME
    return default if default.is_file() else None


def read_file(path: Path) -> dict[str, str]:
    """The file's settings as ``{variable name: text}``; unknown keys, secrets and bad values are errors."""
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except OSError as e:
        raise ConfigError(f"cannot read the configuration file {path}: {e.strerror or type(e).__name__}") from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from e
    found: dict[str, str] = {}
    for name, value in _leaves(data, ""):
        key = BY_TOML.get(name)
        if key is None:
            kind = "section" if isinstance(value, dict) else "key"
            raise ConfigError(f"{path}: unknown {kind} {name!r} (docs/configuration.md lists every key)")
        if key.secret:
            raise ConfigError(f"{path}: {name!r} is a secret and is read from the environment only "
                              f"(set {key.env})")
        try:
            found[key.env] = as_text(key, value)
        except ConfigError as e:
            raise ConfigError(f"{path}: {name} {e}") from e
    return found


def _leaves(table: Mapping[str, Any], prefix: str) -> Iterator[tuple[str, Any]]:
    """Dotted names and values; a table is descended only where it is one of ours."""
    for name, value in table.items():
        dotted = f"{prefix}{name}"
        if isinstance(value, dict) and dotted in SECTIONS:
            yield from _leaves(value, dotted + ".")
        else:
            yield dotted, value


def as_text(key: Key, value: Any) -> str:
    """Check a TOML value against its key and write it as the environment variable would be written."""
    kind = key.kind
    if kind == "boolean":
        if not isinstance(value, bool):
            raise ConfigError(f"must be true or false, got {value!r}")
        return "1" if value else "0"
    if kind in ("integer", "number"):
        wanted = (int,) if kind == "integer" else (int, float)
        if isinstance(value, bool) or not isinstance(value, wanted):
            raise ConfigError(f"must be {'an integer' if kind == 'integer' else 'a number'}, got {value!r}")
        if key.minimum is not None and value < key.minimum:
            raise ConfigError(f"must be at least {key.minimum}, got {value!r}")
        if key.maximum is not None and value > key.maximum:
            raise ConfigError(f"must be at most {key.maximum}, got {value!r}")
        return str(value)
    if kind == "list":
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise ConfigError(f"must be an array of strings, got {value!r}")
        return ",".join(items)
    if kind == "amount":
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ConfigError(f"must be an amount in yuan written as a string like \"30.00\", got {value!r}")
        try:
            parse_amount(str(value))
        except InvalidMoney as e:
            raise ConfigError(f"is not an amount: {e}") from e
        return str(value)
    if not isinstance(value, str):
        raise ConfigError(f"must be a string, got {value!r}")
    if key.choices and value not in key.choices:
        raise ConfigError(f"must be one of {', '.join(key.choices)}, got {value!r}")
    if kind == "timezone" and not known_zone(value):
        raise ConfigError(f"is not a known time zone: {value!r}")
    return value
