"""Load and validate the tariff data files (TOML, stdlib ``tomllib``).

A data directory holds ``*.toml`` files; the ``schema`` key of each says what
it is: ``"tariff/1"`` (one tariff, file named ``<id>.toml``) or
``"late-fee/1"`` (the late-payment rules, at most one file). Every rule is
checked on load and the first violation is reported with the file and the
place inside it, e.g. ``fj-residential.toml: versions[1].tiers[0]: unknown
field 'uptoo'``. See docs/tariffs.md for the format.
"""
from __future__ import annotations

import os
import re
import tomllib
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from vouchers.tariffs.catalog import Catalog
from vouchers.tariffs.errors import (
    DuplicateDefinition,
    InvalidField,
    InvalidTiers,
    MalformedDataFile,
    MissingField,
    OverlappingVersions,
    TariffDataError,
    UnknownField,
)
from vouchers.tariffs.late_fees import LateFeePolicy, LateFeeRates, LateFeeSchedule
from vouchers.tariffs.model import PERIOD_MONTHS, Allowance, TariffVersion, Tariff, Tier, TimeOfUse
from vouchers.tariffs.quantities import MAX_AMOUNT, MAX_KWH

TARIFF_SCHEMA = "tariff/1"
LATE_FEE_SCHEMA = "late-fee/1"

_TARIFF_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_CLASS_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_DECIMAL_TEXT = re.compile(r"^[+-]?[0-9]+(?:\.[0-9]+)?$")
_MAX_PRICE_DECIMALS = 6


class _Table:
    """A TOML table plus its location, with typed, checked accessors."""

    def __init__(self, data: Any, where: str, allowed: tuple[str, ...]) -> None:
        label = where if where.endswith(":") else f"{where}:"
        if not isinstance(data, dict):
            raise InvalidField(f"{label} expected a table, got {_kind(data)}")
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            raise UnknownField(
                f"{label} unknown field {unknown[0]!r} (allowed: {', '.join(allowed)})"
            )
        self.data: dict[str, Any] = data
        self.where = where

    def at(self, key: str) -> str:
        return f"{self.where}.{key}" if not self.where.endswith(":") else f"{self.where} {key}"

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str) -> Any:
        if key not in self.data:
            raise MissingField(f"{self.at(key)}: required field missing")
        return self.data[key]

    def text(self, key: str, default: str | None = None) -> str:
        if key not in self.data and default is not None:
            return default
        value = self.raw(key)
        if not isinstance(value, str):
            raise InvalidField(f"{self.at(key)}: expected text, got {_kind(value)}")
        return value

    def day(self, key: str, required: bool = True) -> date | None:
        if key not in self.data and not required:
            return None
        value = self.raw(key)
        if isinstance(value, datetime) or not isinstance(value, date):
            raise InvalidField(f"{self.at(key)}: expected a TOML date such as 2016-11-01 (no quotes), got {_kind(value)}")
        return value

    def integer(self, key: str, minimum: int, maximum: int, default: int | None = None) -> int:
        if key not in self.data and default is not None:
            return default
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidField(f"{self.at(key)}: expected a whole number, got {_kind(value)}")
        if not minimum <= value <= maximum:
            raise InvalidField(f"{self.at(key)}: must be between {minimum} and {maximum}, got {value}")
        return value

    def decimal(self, key: str) -> Decimal:
        value = self.raw(key)
        if isinstance(value, bool):
            raise InvalidField(f"{self.at(key)}: expected a number, got a boolean")
        if isinstance(value, int):
            return Decimal(value)
        if isinstance(value, Decimal):  # TOML floats are parsed straight to Decimal
            if not value.is_finite():
                raise InvalidField(f"{self.at(key)}: expected a finite number, got {value}")
            return value
        if isinstance(value, str) and _DECIMAL_TEXT.match(value.strip()):
            try:
                return Decimal(value.strip())
            except InvalidOperation as e:  # pragma: no cover - regex guards it
                raise InvalidField(f"{self.at(key)}: not a number: {value!r}") from e
        raise InvalidField(f"{self.at(key)}: expected a decimal number such as 0.4983, got {_kind(value)}")

    def tables(self, key: str) -> list[Any]:
        value = self.raw(key)
        if not isinstance(value, list) or not value:
            raise InvalidField(f"{self.at(key)}: expected a non-empty array of tables ([[{key}]])")
        return value


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, datetime):
        return f"a date-time ({value.isoformat()})"
    if isinstance(value, date):
        return f"a date ({value.isoformat()})"
    if isinstance(value, (int, Decimal)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def _decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _price(table: _Table, key: str) -> Decimal:
    price = table.decimal(key)
    if price <= 0:
        raise InvalidField(f"{table.at(key)}: a price must be greater than zero, got {price}")
    if price >= MAX_AMOUNT or _decimals(price) > _MAX_PRICE_DECIMALS:
        raise InvalidField(f"{table.at(key)}: at most {_MAX_PRICE_DECIMALS} decimals, got {price}")
    return price


def _adjustment(table: _Table, key: str, sign: int) -> Decimal:
    value = table.decimal(key)
    if value * sign < 0:
        wanted = "zero or positive" if sign > 0 else "zero or negative (a discount)"
        raise InvalidField(f"{table.at(key)}: must be {wanted}, got {value}")
    if abs(value) >= MAX_AMOUNT or _decimals(value) > _MAX_PRICE_DECIMALS:
        raise InvalidField(f"{table.at(key)}: at most {_MAX_PRICE_DECIMALS} decimals, got {value}")
    return value


# --- tariff files -------------------------------------------------------------------

_TARIFF_KEYS = ("schema", "id", "name", "name_zh", "region", "currency", "source", "notes", "versions")
_VERSION_KEYS = ("effective_from", "effective_to", "period", "year_start_month", "tiers",
                 "time_of_use", "allowance", "source", "notes")
_TIER_KEYS = ("up_to", "price")
_TOU_KEYS = ("peak_adjustment", "valley_adjustment", "peak_hours", "valley_hours", "source", "notes")
_ALLOWANCE_KEYS = ("kwh_per_month", "mode", "source", "notes")


def _tiers(version: _Table, period: str) -> tuple[Tier, ...]:
    raw = version.tables("tiers")
    tiers: list[Tier] = []
    previous: int | None = None
    months = PERIOD_MONTHS[period]
    for index, item in enumerate(raw):
        table = _Table(item, f"{version.where}.tiers[{index}]", _TIER_KEYS)
        last = index == len(raw) - 1
        price = _price(table, "price")
        if last:
            if table.has("up_to"):
                raise InvalidTiers(f"{table.where}: the last tier is unbounded and must not have up_to")
            tiers.append(Tier(index + 1, None, price))
            break
        if not table.has("up_to"):
            raise InvalidTiers(f"{table.where}: every tier but the last needs up_to (kWh per {period} period)")
        up_to = table.integer("up_to", 1, int(MAX_KWH) - 1)
        if previous is not None and up_to <= previous:
            raise InvalidTiers(
                f"{table.where}.up_to: tier bounds must strictly increase, got {up_to} after {previous}"
            )
        if up_to % months:
            raise InvalidTiers(
                f"{table.where}.up_to: {up_to} kWh is not a whole number of kWh per month "
                f"(an {period} bound must be divisible by {months} so part-year accounts scale exactly)"
            )
        previous = up_to
        tiers.append(Tier(index + 1, Decimal(up_to), price))
    return tuple(tiers)


def _version(tariff_id: str, item: Any, where: str) -> TariffVersion:
    table = _Table(item, where, _VERSION_KEYS)
    effective_from = table.day("effective_from")
    effective_to = table.day("effective_to", required=False)
    assert effective_from is not None
    if effective_to is not None and effective_to < effective_from:
        raise InvalidField(f"{table.at('effective_to')}: {effective_to} is before effective_from {effective_from}")
    tiers_given = table.raw("tiers")
    multi = isinstance(tiers_given, list) and len(tiers_given) > 1
    if table.has("period") or multi:
        period = table.text("period")
        if period not in PERIOD_MONTHS:
            raise InvalidField(f"{table.at('period')}: must be 'monthly' or 'annual', got {period!r}")
    else:
        period = "monthly"  # one flat price: the period does not matter
    if period == "annual":
        year_start_month = table.integer("year_start_month", 1, 12, default=1)
    elif table.has("year_start_month"):
        raise InvalidField(f"{table.at('year_start_month')}: only annual tariffs have a year start month")
    else:
        year_start_month = 1
    tiers = _tiers(table, period)

    time_of_use = None
    if table.has("time_of_use"):
        tou = _Table(table.raw("time_of_use"), table.at("time_of_use"), _TOU_KEYS)
        time_of_use = TimeOfUse(
            peak_adjustment=_adjustment(tou, "peak_adjustment", +1),
            valley_adjustment=_adjustment(tou, "valley_adjustment", -1),
            peak_hours=tou.text("peak_hours", ""),
            valley_hours=tou.text("valley_hours", ""),
        )
        tou.text("source", "")
        tou.text("notes", "")
        cheapest = min(t.price for t in tiers) + time_of_use.valley_adjustment
        if cheapest < 0:
            raise InvalidField(
                f"{tou.at('valley_adjustment')}: makes a valley price negative ({cheapest})"
            )

    allowance = None
    if table.has("allowance"):
        allow = _Table(table.raw("allowance"), table.at("allowance"), _ALLOWANCE_KEYS)
        kwh = allow.decimal("kwh_per_month")
        if kwh <= 0 or kwh >= MAX_KWH or _decimals(kwh) > 2:
            raise InvalidField(f"{allow.at('kwh_per_month')}: must be above zero with at most 2 decimals, got {kwh}")
        mode = allow.text("mode")
        if mode not in ("deduct", "refund"):
            raise InvalidField(f"{allow.at('mode')}: must be 'deduct' or 'refund', got {mode!r}")
        allow.text("source", "")
        allow.text("notes", "")
        allowance = Allowance(kwh, mode)  # type: ignore[arg-type]

    return TariffVersion(
        tariff_id=tariff_id,
        effective_from=effective_from,
        effective_to=effective_to,
        period=period,  # type: ignore[arg-type]
        year_start_month=year_start_month,
        tiers=tiers,
        time_of_use=time_of_use,
        allowance=allowance,
        source=table.text("source", ""),
        notes=table.text("notes", ""),
    )


def _check_sequence(where: str, spans: list[tuple[date, date | None]]) -> None:
    """``spans`` sorted by start: no two may share a day."""
    for (start_a, end_a), (start_b, _) in zip(spans, spans[1:]):
        if start_a == start_b:
            raise OverlappingVersions(f"{where}: two versions start on {start_a}")
        if end_a is not None and end_a >= start_b:
            raise OverlappingVersions(
                f"{where}: the version from {start_a} to {end_a} overlaps the version from {start_b}"
            )


def parse_tariff(document: dict[str, Any], name: str) -> Tariff:
    """Build a :class:`Tariff` from a parsed ``tariff/1`` document.

    ``name`` is the file name used in messages (and must be ``<id>.toml``
    when it ends in ``.toml``)."""
    top = _Table(document, f"{name}:", _TARIFF_KEYS)
    schema = top.text("schema")
    if schema != TARIFF_SCHEMA:
        raise MalformedDataFile(f"{name}: schema must be {TARIFF_SCHEMA!r}, got {schema!r}")
    tariff_id = top.text("id")
    if not _TARIFF_ID.match(tariff_id):
        raise InvalidField(f"{top.at('id')}: use lower-case letters, digits and dashes, got {tariff_id!r}")
    if name.endswith(".toml") and name[: -len(".toml")] != tariff_id:
        raise InvalidField(f"{top.at('id')}: {tariff_id!r} must match the file name ({tariff_id}.toml)")
    currency = top.text("currency", "CNY")
    if not _CURRENCY.match(currency):
        raise InvalidField(f"{top.at('currency')}: expected an ISO 4217 code such as CNY, got {currency!r}")
    versions = sorted(
        (_version(tariff_id, item, f"{name}: versions[{i}]") for i, item in enumerate(top.tables("versions"))),
        key=lambda v: v.effective_from,
    )
    _check_sequence(name, [(v.effective_from, v.effective_to) for v in versions])
    return Tariff(
        id=tariff_id,
        name=top.text("name"),
        name_zh=top.text("name_zh", ""),
        region=top.text("region", ""),
        currency=currency,
        versions=tuple(versions),
        source=top.text("source", ""),
        notes=top.text("notes", ""),
    )


# --- late-fee files -----------------------------------------------------------------

_LATE_KEYS = ("schema", "name", "source", "notes", "versions")
_LATE_VERSION_KEYS = ("effective_from", "effective_to", "minimum", "grace_days", "regulation",
                      "classes", "source", "notes")
_RATE_KEYS = ("current_year", "prior_year")


def _rate(table: _Table, key: str) -> Decimal:
    rate = table.decimal(key)
    if not 0 <= rate < 1 or _decimals(rate) > 8:
        raise InvalidField(f"{table.at(key)}: a daily rate is a fraction such as 0.001 (1 per mille), got {rate}")
    return rate


def parse_late_fees(document: dict[str, Any], name: str) -> LateFeeSchedule:
    top = _Table(document, f"{name}:", _LATE_KEYS)
    schema = top.text("schema")
    if schema != LATE_FEE_SCHEMA:
        raise MalformedDataFile(f"{name}: schema must be {LATE_FEE_SCHEMA!r}, got {schema!r}")
    top.text("notes", "")
    policies: list[LateFeePolicy] = []
    for i, item in enumerate(top.tables("versions")):
        table = _Table(item, f"{name}: versions[{i}]", _LATE_VERSION_KEYS)
        effective_from = table.day("effective_from")
        effective_to = table.day("effective_to", required=False)
        assert effective_from is not None
        if effective_to is not None and effective_to < effective_from:
            raise InvalidField(f"{table.at('effective_to')}: {effective_to} is before effective_from {effective_from}")
        minimum = table.decimal("minimum")
        if minimum < 0 or _decimals(minimum) > 2 or minimum >= MAX_AMOUNT:
            raise InvalidField(f"{table.at('minimum')}: a non-negative amount with at most 2 decimals, got {minimum}")
        raw_classes = table.raw("classes")
        if not isinstance(raw_classes, dict) or not raw_classes:
            raise InvalidField(f"{table.at('classes')}: expected a table of customer classes")
        classes = []
        for class_name in sorted(raw_classes):
            if not _CLASS_NAME.match(class_name):
                raise InvalidField(f"{table.at('classes')}: bad customer class name {class_name!r}")
            rates = _Table(raw_classes[class_name], table.at(f"classes.{class_name}"), _RATE_KEYS)
            classes.append((class_name, LateFeeRates(_rate(rates, "current_year"), _rate(rates, "prior_year"))))
        policies.append(LateFeePolicy(
            effective_from=effective_from,
            effective_to=effective_to,
            minimum=minimum.quantize(Decimal("0.01")),
            grace_days=table.integer("grace_days", 0, 366, default=0),
            classes=tuple(classes),
            regulation=table.text("regulation", ""),
            source=table.text("source", ""),
            notes=table.text("notes", ""),
        ))
    policies.sort(key=lambda p: p.effective_from)
    _check_sequence(name, [(p.effective_from, p.effective_to) for p in policies])
    return LateFeeSchedule(tuple(policies), name=top.text("name", ""), source=top.text("source", ""))


# --- files and directories ----------------------------------------------------------


def parse_document(text: str, name: str) -> dict[str, Any]:
    """TOML text -> dict, floats as exact ``Decimal``; syntax errors become one line."""
    try:
        return tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as e:
        raise MalformedDataFile(f"{name}: not valid TOML: {' '.join(str(e).split())}") from e


def _read(entry: Traversable) -> dict[str, Any]:
    try:
        text = entry.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise MalformedDataFile(f"{entry.name}: not UTF-8 text") from e
    except OSError as e:
        raise MalformedDataFile(f"{entry.name}: cannot read: {e.strerror or e}") from e
    return parse_document(text, entry.name)


def default_data_dir() -> Traversable:
    """The tariff data shipped with the package (``tariffs/data``)."""
    return resources.files("vouchers.tariffs.data")


def load_catalog(directory: str | os.PathLike[str] | Traversable | None = None) -> Catalog:
    """Load every ``*.toml`` in ``directory`` (default: the shipped data).

    Raises a :class:`~vouchers.tariffs.errors.TariffDataError` subclass naming the file
    and field at the first problem; nothing is partially loaded.
    """
    root: Traversable
    if directory is None:
        root = default_data_dir()
    elif isinstance(directory, (str, os.PathLike)):
        root = Path(directory)
    else:
        root = directory
    origin = str(root)
    if not root.is_dir():
        raise TariffDataError(f"tariff data directory not found: {origin}")
    tariffs: dict[str, Tariff] = {}
    late_fees: LateFeeSchedule | None = None
    late_fee_file = ""
    for entry in sorted((e for e in root.iterdir() if e.name.endswith(".toml") and e.is_file()),
                        key=lambda e: e.name):
        document = _read(entry)
        schema = document.get("schema")
        if schema == TARIFF_SCHEMA:
            tariff = parse_tariff(document, entry.name)
            if tariff.id in tariffs:  # pragma: no cover - file names are unique and must match ids
                raise DuplicateDefinition(f"{entry.name}: tariff {tariff.id!r} defined twice")
            tariffs[tariff.id] = tariff
        elif schema == LATE_FEE_SCHEMA:
            if late_fees is not None:
                raise DuplicateDefinition(f"{entry.name}: a second late-fee file (the first is {late_fee_file})")
            late_fees = parse_late_fees(document, entry.name)
            late_fee_file = entry.name
        else:
            raise MalformedDataFile(
                f"{entry.name}: unknown or missing schema {schema!r} "
                f"(expected {TARIFF_SCHEMA!r} or {LATE_FEE_SCHEMA!r})"
            )
    if not tariffs:
        raise TariffDataError(f"no tariff files (schema {TARIFF_SCHEMA!r}) in {origin}")
    return Catalog(tuple(tariffs[k] for k in sorted(tariffs)), late_fees, origin)
