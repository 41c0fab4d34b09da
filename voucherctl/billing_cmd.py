"""``voucherctl billing``: tariff assignment, the monthly billing run, bills, late fees.

Also holds the helpers the other billing-side groups share (``readings``,
``collection``, ``cost-control``): the tariff catalog (``VOUCHER_TARIFF_DIR``
or the shipped data), the configuration from ``VOUCHER_*`` variables, date
parsing and one-line errors.
"""
from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from vouchers.metering import billing as billing_service
from print_templates import metering_reports as pdf
from vouchers.metering import late_fees, prepaid
from vouchers.metering.accounts import assign_tariff, get_assignment
from vouchers.metering.errors import MeteringError
from vouchers.metering.units import format_kwh, parse_register
from vouchers.tariffs import TariffError
from voucherctl import context
from voucherctl.output import CliError, emit, json_option, output_files, progress
from vouchers.errors import InvalidMoney
from vouchers.money import format_amount, parse_amount

F = TypeVar("F", bound=Callable[..., Any])


def cli_errors(func: F) -> F:
    """Every expected refusal of the billing side as one CLI error line."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (TariffError, MeteringError) as e:
            raise CliError(str(e)) from e

    return wrapper  # type: ignore[return-value]


catalog = context.catalog  # the tariff catalogue and metering settings live with the CLI context
config = context.metering_config


actor = context.actor


def parse_day(text: str | None, option: str) -> dt.date:
    """A local date; today (local) when not given."""
    if text is None:
        return config().local_date(context.now())
    try:
        return dt.date.fromisoformat(text)
    except ValueError as e:
        raise CliError(f"{option} must be a date like 2026-11-30, got {text!r}") from e


INSTANT_YEARS = (2000, 2199)  # what an --as-of / --at instant may be (billing and collection)


def parse_instant(text: str | None, option: str) -> dt.datetime:
    """An instant: ISO date-time with or without offset (local time when without), or a date (local
    midnight); now when not given."""
    if text is None:
        return context.now()
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError as e:
        raise CliError(f"{option} must be a date-time like 2026-11-30T08:30 or 2026-11-30, got {text!r}") from e
    if value.tzinfo is None:
        value = value.replace(tzinfo=config().tz)
    if not INSTANT_YEARS[0] <= value.year <= INSTANT_YEARS[1]:  # a typo; near year 1 or 9999 not even computable
        raise CliError(f"{option} {text} is outside the years {INSTANT_YEARS[0]}-{INSTANT_YEARS[1]}")
    return value


def parse_yuan(text: str, option: str) -> int:
    try:
        return parse_amount(text)
    except InvalidMoney as e:
        raise CliError(f"{option}: {e}") from e


@click.group()
def billing() -> None:
    """Electricity billing: tariff assignment, monthly runs, bills (PDF), late fees."""


@billing.command("assign")
@click.argument("account_no")
@click.option("--tariff", "tariff_id", required=True, help="Tariff id, e.g. jx-residential (see `tariff list`).")
@click.option("--class", "customer_class", type=click.Choice(["residential", "other"]), default="residential",
              show_default=True, help="Customer class for late-fee rates.")
@click.option("--mode", "payment_mode", type=click.Choice(["prepaid", "postpaid"]), required=True)
@click.option("--area", required=True, help="Area for the collection analysis, e.g. 思明区.")
@click.option("--meter", "meter_no", required=True, help="The meter read for this account.")
@click.option("--low-income", is_flag=True, help="Low-income (低保/五保) allowance.")
@click.option("--time-of-use", is_flag=True, help="Peak/valley (峰谷) pricing; readings need both registers.")
@click.option("--large-customer", is_flag=True, help="Flag for the red warning level.")
@click.option("--supply-start", default=None, help="First day of supply (part-year accounts).")
@click.option("--supply-end", default=None, help="Last day of supply (closed or transferred accounts).")
@click.option("--warning", "warning", default=None, help="Low-balance warning in yuan (default: configured).")
@click.option("--opening-reading", default=None, help="The meter's first reading (baseline), kWh.")
@click.option("--opening-peak", default=None,
              help="Its peak (峰) register, kWh (time-of-use meters; peak + valley = the reading).")
@click.option("--opening-valley", default=None, help="Its valley (谷) register, kWh (time-of-use meters).")
@click.option("--opening-date", default=None, help="Date of the opening reading.")
@json_option
@cli_errors
def assign(account_no: str, tariff_id: str, customer_class: str, payment_mode: str, area: str, meter_no: str,
           low_income: bool, time_of_use: bool, large_customer: bool, supply_start: str | None,
           supply_end: str | None, warning: str | None, opening_reading: str | None, opening_peak: str | None,
           opening_valley: str | None, opening_date: str | None, as_json: bool) -> None:
    """Assign a tariff (and meter) to an existing customer account, or change it."""
    start = parse_day(supply_start, "--supply-start") if supply_start else None
    end = parse_day(supply_end, "--supply-end") if supply_end else None
    if opening_reading is None and (opening_peak is not None or opening_valley is not None):
        raise CliError("--opening-peak and --opening-valley belong to an --opening-reading")
    peak = parse_register(opening_peak, "--opening-peak") if opening_peak is not None else None
    valley = parse_register(opening_valley, "--opening-valley") if opening_valley is not None else None
    with context.sessions().begin() as session:
        result = assign_tariff(
            session, account_no, tariff_id=tariff_id, customer_class=customer_class, payment_mode=payment_mode,
            area=area, meter_no=meter_no, catalog=catalog(), now=context.now(), low_income=low_income,
            time_of_use=time_of_use, large_customer=large_customer, supply_start=start, supply_end=end,
            warning_threshold=parse_yuan(warning, "--warning") if warning else None,
            opening_reading_ckwh=parse_register(opening_reading, "--opening-reading") if opening_reading else None,
            opening_peak_ckwh=peak, opening_valley_ckwh=valley,
            opening_date=parse_day(opening_date, "--opening-date") if opening_reading else None, actor=actor())
    emit(as_json, result.as_dict(), f"{account_no}: {tariff_id}, {payment_mode}, meter {meter_no}, area {area}")


@billing.command("run")
@click.option("--period", required=True, help="Billing period YYYY-MM.")
@click.option("--as-of", "as_of", default=None, help="Bill date (default: today); readings up to it count.")
@click.option("--account", "accounts", multiple=True, help="Only these accounts (repeatable).")
@json_option
@cli_errors
def run(period: str, as_of: str | None, accounts: tuple[str, ...], as_json: bool) -> None:
    """Bill every assigned account for PERIOD (accounts already billed are skipped).

    A progress bar on a terminal counts the accounts gone through."""
    sessions = context.sessions()
    account_nos = list(accounts) or None
    with sessions.begin() as session:
        total = billing_service.accounts_to_bill(session, account_nos)
    with progress(total, f"billing {period}") as advance:
        result = billing_service.run_billing(
            sessions, period, as_of=parse_day(as_of, "--as-of"), now=context.now(), catalog=catalog(),
            config=config(), actor=actor(), account_nos=account_nos, on_batch=lambda batch: advance(batch.accounts))
    document = result.as_dict()
    emit(as_json, document,
         f"run {result.run_id} for {period}: {result.billed} bills ({result.zero_bills} zero), total "
         f"{document['total']}; {result.no_reading} without readings, {result.skipped} refused"
         + "".join(f"\n  {a}: {m}" for a, _, m in result.exceptions[:20]))


@billing.command("show")
@click.argument("account_no")
@click.option("--limit", default=12, show_default=True, type=click.IntRange(1, 1000))
@json_option
@cli_errors
def show(account_no: str, limit: int, as_json: bool) -> None:
    """Tariff, balance (available = prepaid − arrears − estimate) and recent bills of an account."""
    now = context.now()
    with context.sessions().begin() as session:
        assignment = get_assignment(session, account_no)
        standing = prepaid.standing(session, account_no, now=now, catalog=catalog(), config=config())
        bills = billing_service.bills_of(session, account_no, limit=limit)
        kwh = prepaid.kwh_fields(session, account_no, now=now, catalog=catalog(), config=config())
    assert standing is not None
    document = {
        "assignment": assignment.as_dict(),
        "balance": format_amount(standing.prepaid_fen), "arrears": format_amount(standing.arrears_fen),
        "estimate": format_amount(standing.estimate_fen), "unbilled_kwh": format_kwh(standing.unbilled_ckwh),
        "available_balance": format_amount(standing.available_fen), **{k: v for k, v in kwh.items()
                                                                     if k != "available_balance"},
        "bills": [b.as_dict() for b in bills],
    }

    def human() -> None:
        click.echo(f"{account_no}: {assignment.tariff_id}, {assignment.payment_mode}, meter {assignment.meter_no}")
        click.echo(f"  balance {document['balance']}, arrears {document['arrears']}, estimate "
                   f"{document['estimate']} ({document['unbilled_kwh']} kWh unbilled), available "
                   f"{document['available_balance']}" + (f" = {kwh['available_kwh']} kWh" if kwh else ""))
        for b in bills:
            click.echo(f"  bill {b.bill_id} {b.period}: {format_kwh(b.kwh_ckwh)} kWh, {format_amount(b.total_fen)}"
                       f" ({b.status}, due {b.due_date})")

    emit(as_json, document, human)


@billing.command("pdf")
@click.argument("bill_id", type=int)
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@json_option
@cli_errors
def bill_pdf(bill_id: int, out: Path, lang: str, as_json: bool) -> None:
    """Write one bill as a PDF (fonts embedded); --json: {"bill_id", "path", "lang", "bytes"}."""
    with context.sessions().begin() as session:
        bill = billing_service.get_bill(session, bill_id)
    data = pdf.bill_pdf(bill, lang=lang, branding=context.print_branding())
    with output_files(out) as (out_file,):
        out_file.write_bytes(data)
    document = {"bill_id": bill_id, "path": str(out), "lang": lang, "bytes": len(data)}
    emit(as_json, document, f"wrote {out} ({len(data)} bytes)")


@billing.command("late-fees")
@click.option("--month", required=True, help="Month YYYY-MM: late fees accrued through its last day.")
@json_option
@cli_errors
def month_end_late_fees(month: str, as_json: bool) -> None:
    """Month-end late fees (电费违约金) for every overdue postpaid bill."""
    result = late_fees.run_month_end(context.sessions(), month, now=context.now(), catalog=catalog(),
                                     config=config())
    document = result.as_dict()
    emit(as_json, document, f"late fees through {document['upto']}: {result.charged_accounts} of "
                            f"{result.accounts} accounts charged, total {document['total']}")
