"""``voucherctl tariff``: electricity calculators (bills, money -> kWh, late fees).

No database: everything comes from the tariff data files (the shipped ones, or
``--data-dir`` / ``VOUCHER_TARIFF_DIR``). Amounts and kWh in JSON are decimal
strings.
"""
from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

import click

from vouchers.tariffs import (
    Catalog,
    Quote,
    Tariff,
    TariffError,
    TariffVersion,
    kwh_for_amount,
    late_fee,
    load_catalog,
    quote,
)
from vouchers.tariffs.quantities import format_decimal, parse_amount, parse_kwh
from voucherctl.output import CliError, emit, json_option

F = TypeVar("F", bound=Callable[..., Any])
_CHINA = dt.timezone(dt.timedelta(hours=8), "CST")  # no daylight saving in China


def _tariff_errors(func: F) -> F:
    """Turn every tariff-layer refusal into a one-line CLI error."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except TariffError as e:
            raise CliError(str(e)) from e

    return wrapper  # type: ignore[return-value]


def _catalog() -> Catalog:
    ctx = click.get_current_context()
    data_dir = ctx.find_root().meta.get("tariff.data_dir")
    if data_dir is None:  # no --data-dir: the configuration's tariffs.dir (file, or VOUCHER_TARIFF_DIR over it)
        from voucherctl import context

        data_dir = context.settings().tariff_dir
    return load_catalog(data_dir)


def _today() -> dt.date:
    """The business date in China (readings and due dates are local dates)."""
    from voucherctl import context

    return context.now().astimezone(_CHINA).date()


def _date(text: str | None, option: str) -> dt.date:
    if text is None:
        return _today()
    try:
        return dt.date.fromisoformat(text)
    except ValueError as e:
        raise CliError(f"{option} must be a date like 2024-05-31, got {text!r}") from e


def _s(value: Decimal) -> str:
    return format_decimal(value)


@click.group()
@click.option("--data-dir", default=None, metavar="DIR",
              help="Tariff data files to use instead of the shipped ones (env VOUCHER_TARIFF_DIR).")
def tariff(data_dir: str | None) -> None:
    """Electricity tariffs: list them, price a reading, convert money to kWh, late fees."""
    click.get_current_context().find_root().meta["tariff.data_dir"] = data_dir


# --- list ---------------------------------------------------------------------------


def _version_json(version: TariffVersion) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "effective_from": version.effective_from.isoformat(),
        "effective_to": version.effective_to.isoformat() if version.effective_to else None,
        "period": version.period,
        "tiers": [
            {"tier": str(t.number), "up_to": None if t.up_to is None else _s(t.up_to), "price": _s(t.price)}
            for t in version.tiers
        ],
        "time_of_use": None,
        "allowance": None,
    }
    if version.period == "annual":
        doc["year_start_month"] = version.year_start_month
    if version.time_of_use is not None:
        tou = version.time_of_use
        doc["time_of_use"] = {"peak_adjustment": _s(tou.peak_adjustment),
                              "valley_adjustment": _s(tou.valley_adjustment),
                              "peak_hours": tou.peak_hours, "valley_hours": tou.valley_hours}
    if version.allowance is not None:
        doc["allowance"] = {"kwh_per_month": _s(version.allowance.kwh_per_month),
                            "mode": version.allowance.mode}
    return doc


def _tariff_json(t: Tariff) -> dict[str, Any]:
    return {"id": t.id, "name": t.name, "region": t.region, "currency": t.currency,
            "current_version": t.current.effective_from.isoformat(),
            "versions": [_version_json(v) for v in t.versions]}


def _describe_version(version: TariffVersion) -> str:
    until = f" to {version.effective_to.isoformat()}" if version.effective_to else ""
    steps = []
    for tier in version.tiers:
        bound = "above" if tier.up_to is None else f"<={_s(tier.up_to)}"
        steps.append(_s(tier.price) if version.is_flat else f"{bound} {_s(tier.price)}")
    kind = "flat" if version.is_flat else (
        f"annual tiers (year from month {version.year_start_month})" if version.period == "annual"
        else "monthly tiers")
    text = f"from {version.effective_from.isoformat()}{until}: {kind}: {' | '.join(steps)}"
    if version.time_of_use is not None:
        tou = version.time_of_use
        text += f"; TOU peak {_s(tou.peak_adjustment)} valley {_s(tou.valley_adjustment)}"
    if version.allowance is not None:
        text += f"; low-income {_s(version.allowance.kwh_per_month)} kWh/month ({version.allowance.mode})"
    return text


@tariff.command("list")
@json_option
@_tariff_errors
def list_tariffs(as_json: bool) -> None:
    """List the tariffs and their versions."""
    catalog = _catalog()

    def human() -> None:
        for t in catalog:
            click.echo(f"{t.id:<18} {t.name}")
            for version in t.versions:
                click.echo(f"{'':<18}   {_describe_version(version)}")

    emit(as_json, {"tariffs": [_tariff_json(t) for t in catalog]}, human)


# --- quote --------------------------------------------------------------------------


def _quote_json(q: Quote, reading_date: dt.date, low_income: bool) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "tariff": q.tariff_id,
        "version": q.version_from.isoformat(),
        "reading_date": reading_date.isoformat(),
        "kwh": _s(q.kwh),
        "used_before": _s(q.used_before),
        "months_of_supply": q.months_of_supply,
        "currency": q.currency,
        "subtotal": _s(q.subtotal),
        "total": _s(q.total),
        "lines": [{"tier": line.tier, "kind": line.kind, "kwh": _s(line.kwh), "price": _s(line.price),
                   "amount": _s(line.amount)} for line in q.lines],
    }
    if low_income:
        doc["allowance_kwh"] = _s(q.allowance_kwh)
        doc["allowance_refund"] = _s(q.allowance_refund)
    return doc


def _print_quote(q: Quote, version: TariffVersion, reading_date: dt.date) -> None:
    click.echo(f"{q.tariff_id} (version from {q.version_from.isoformat()}), reading {reading_date.isoformat()}, "
               f"{_s(q.used_before)} kWh already billed this {version.period} period"
               + ("" if q.months_of_supply == version.period_months
                  else f", {q.months_of_supply} months of supply"))
    click.echo(f"{'tier':<10}{'kWh':>12}{'price':>10}{'amount':>14}")
    for line in q.lines:
        click.echo(f"{line.tier:<10}{_s(line.kwh):>12}{_s(line.price):>10}{_s(line.amount):>14}")
    click.echo(f"{'total':<10}{_s(q.kwh):>12}{'':>10}{_s(q.total):>14} {q.currency}")
    if q.allowance_refund > 0:
        click.echo(f"low-income refund (paid separately): {_s(q.allowance_refund)} {q.currency}")


@tariff.command("quote")
@click.option("--tariff", "tariff_id", required=True, help="Tariff id (see `voucherctl tariff list`).")
@click.option("--kwh", required=True, help="kWh of this reading.")
@click.option("--used-before", default="0", show_default=True,
              help="kWh already billed in the current tariff period (tariff year or month).")
@click.option("--months-of-supply", type=int, default=None,
              help="Months of the period the account is supplied (part-year accounts); default a full period.")
@click.option("--peak", default=None, help="Time-of-use: peak kWh (with --valley; they add up to --kwh).")
@click.option("--valley", default=None, help="Time-of-use: valley kWh.")
@click.option("--low-income", is_flag=True, help="Apply the low-income allowance for one month.")
@click.option("--date", "reading_date", default=None, metavar="YYYY-MM-DD",
              help="Reading date: chooses the tariff version (default today).")
@json_option
@_tariff_errors
def quote_cmd(tariff_id: str, kwh: str, used_before: str, months_of_supply: int | None,
              peak: str | None, valley: str | None, low_income: bool, reading_date: str | None,
              as_json: bool) -> None:
    """Price a reading: kWh per tier, time-of-use adjustments, total."""
    day = _date(reading_date, "--date")
    version = _catalog().get(tariff_id).version_for(day)
    q = quote(version, kwh, used_before=used_before, months_of_supply=months_of_supply,
              peak=peak, valley=valley, low_income=low_income)
    emit(as_json, _quote_json(q, day, low_income), lambda: _print_quote(q, version, day))


# --- kwh ----------------------------------------------------------------------------


@tariff.command("kwh")
@click.option("--tariff", "tariff_id", required=True, help="Tariff id (see `voucherctl tariff list`).")
@click.option("--amount", required=True, help="Money, e.g. 100.00.")
@click.option("--used-before", default="0", show_default=True,
              help="kWh already billed in the current tariff period.")
@click.option("--months-of-supply", type=int, default=None, help="Part-year accounts: months of supply.")
@click.option("--time-of-use", is_flag=True,
              help="Time-of-use customer: price every kWh at the peak price (the conservative figure).")
@click.option("--date", "reading_date", default=None, metavar="YYYY-MM-DD",
              help="Date that chooses the tariff version (default today).")
@json_option
@_tariff_errors
def kwh_cmd(tariff_id: str, amount: str, used_before: str, months_of_supply: int | None,
            time_of_use: bool, reading_date: str | None, as_json: bool) -> None:
    """The most kWh an amount buys, rounded down to 0.01 kWh."""
    day = _date(reading_date, "--date")
    version = _catalog().get(tariff_id).version_for(day)
    kwh = kwh_for_amount(version, amount, used_before=used_before, months_of_supply=months_of_supply,
                         time_of_use=time_of_use)
    basis = "peak" if time_of_use else "tier"
    money = _s(parse_amount(amount))
    doc = {"tariff": version.tariff_id, "version": version.effective_from.isoformat(), "date": day.isoformat(),
           "amount": money, "used_before": _s(parse_kwh(used_before, "kWh used before")), "basis": basis,
           "kwh": _s(kwh)}
    note = " (all at the peak price)" if time_of_use else ""
    emit(as_json, doc, f"{money} buys {_s(kwh)} kWh on {version.tariff_id}{note}")


# --- late-fee -----------------------------------------------------------------------


@tariff.command("late-fee")
@click.option("--customer-class", required=True, metavar="residential|other", help="Customer class.")
@click.option("--principal", required=True, help="Arrears the penalty runs on (no earlier penalties), e.g. 200.00.")
@click.option("--days", type=int, required=True, help="Days overdue: payment date minus due date.")
@click.option("--prior-year", is_flag=True, help="The arrears are from a prior year (3 per mille for 'other').")
@click.option("--as-of", "as_of", default=None, metavar="YYYY-MM-DD",
              help="Date that chooses the late-fee rules (default today).")
@json_option
@_tariff_errors
def late_fee_cmd(customer_class: str, principal: str, days: int, prior_year: bool, as_of: str | None,
                 as_json: bool) -> None:
    """Late-payment penalty (电费违约金) on arrears."""
    day = _date(as_of, "--as-of")
    policy = _catalog().require_late_fees().version_for(day)
    result = late_fee(policy, principal=principal, days=days, customer_class=customer_class, prior_year=prior_year)
    rate = policy.rates_for(customer_class).rate(prior_year)
    doc = {"fee": _s(result.fee), "customer_class": customer_class, "principal": _s(parse_amount(principal)),
           "days": result.days_overdue, "days_charged": result.days_charged, "prior_year": prior_year,
           "daily_rate": _s(rate), "accrued": _s(result.accrued), "minimum_applied": result.minimum_applied}
    minimum = f" (minimum {_s(policy.minimum)} applied)" if result.minimum_applied else ""
    emit(as_json, doc, f"late fee {_s(result.fee)}{minimum}: {doc['principal']} x {_s(rate)}/day "
                       f"x {result.days_charged} day(s)")
