"""``voucherctl collection``: the monthly collection analysis and per-customer warnings."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from vouchers.display import percent_text
from vouchers.metering import collection as metering_collection
from vouchers.metering.billing import parse_period
from vouchers.metering.collection import report_csv
from vouchers.services import collection as collection_service
from vouchers.services import finance_reports
from voucherctl import context
from voucherctl.billing_cmd import catalog, cli_errors, config, parse_instant
from voucherctl.data_as_of import allow_stale_option, emit_report, line, pdf_note
from voucherctl.output import csv_encoding, emit, excel_option, json_option, output_files


@click.group()
def collection() -> None:
    """Collection rate (电费回收率), arrears aging and early warning (电费回收预警)."""


@collection.command("report")
@click.option("--month", required=True, help="Month YYYY-MM (a month not ended yet is reported to today).")
@click.option("--csv", "csv_out", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report as CSV to this file.")
@click.option("--pdf", "pdf_out", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report as PDF (with charts) to this file.")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True, help="PDF language.")
@click.option("--top", default=20, show_default=True, type=click.IntRange(0, 1000), help="Largest arrears listed.")
@excel_option
@allow_stale_option
@json_option
@cli_errors
def report(month: str, csv_out: Path | None, pdf_out: Path | None, lang: str, top: int, excel: bool,
           allow_stale: bool, as_json: bool) -> None:
    """Collection rates (cumulative, this year, earlier years), aging by area and channel.

    The same report as ``voucherctl report collection`` for the days of one month."""
    first, last = parse_period(month)
    write_collection_report(first, last, csv_out=csv_out, pdf_out=pdf_out, lang=lang, top=top, excel=excel,
                            as_json=as_json, currency=None, allow_stale=allow_stale)


def write_collection_report(first: dt.date, last: dt.date, *, csv_out: Path | None, pdf_out: Path | None, lang: str,
                            top: int, excel: bool, as_json: bool, currency: str | None, allow_stale: bool = False
                            ) -> None:
    """Both collection commands: one service call, one CSV, one PDF, one text; read from the reports database."""
    settings = context.settings()
    cur = (currency or settings.currency).upper()
    with output_files(csv_out, pdf_out) as (csv_file, pdf_file):
        with context.report_session(allow_stale) as (session, data_as_of):
            result = collection_service.collection_report(session, first=first, last=last, now=context.now(),
                                                          currency=cur, config=config(), top=top)
        if csv_file is not None:
            csv_file.write_bytes(report_csv(result.analysis, result.months).encode(csv_encoding(excel)))
        if pdf_file is not None:
            pdf_file.write_bytes(finance_reports.collection_pdf(result, lang=lang, branding=context.print_branding(),
                                                                data_note=pdf_note(data_as_of)))
    document = result.as_dict()
    if as_json or (csv_out is None and pdf_out is None):
        emit_report(as_json, document, lambda: _human(result, lang), data_as_of)
    else:
        click.echo(" ".join(f"wrote {p}" for p in (csv_out, pdf_out) if p is not None))
        click.echo(line(data_as_of))


def _human(result: collection_service.CollectionStatement, lang: str) -> None:
    """The text summary: rates as ``97.5%`` or ``n/a`` (never ``None``), money as people write it."""
    from print_templates.numbers import money_text

    a, rates = result.analysis, result.analysis.total.rates
    cut = f"cut-off {a.cutoff}" + ("" if a.month_complete else " (month not ended: reported to today)")
    click.echo(f"{a.month} ({cut}): cumulative {percent_text(rates.cumulative)}, this year "
               f"{percent_text(rates.this_year)}, earlier years {percent_text(rates.earlier_years)}, arrears "
               f"{money_text(a.total.aging.total, a.currency, 'en')}")
    for x in result.months:
        click.echo(f"  {x.month}: billed {money_text(x.billed, result.currency, 'en')}, collected "
                   f"{money_text(x.collected, result.currency, 'en')} ({percent_text(x.rate)})")


@collection.command("warnings")
@click.option("--as-of", "as_of", default=None, help="Evaluate at this time (default: now).")
@click.option("--level", type=click.Choice(["red", "yellow", "blue"]), default=None, help="Only this level.")
@json_option
@cli_errors
def warnings(as_of: str | None, level: str | None, as_json: bool) -> None:
    """Customers with a red / yellow / blue warning level, with the reasons."""
    now = parse_instant(as_of, "--as-of")
    with context.sessions().begin() as session:
        found = metering_collection.warnings(session, now=now, catalog=catalog(), config=config())
    if level is not None:
        found = [w for w in found if w.level == level]
    counts = {lv: sum(1 for w in found if w.level == lv) for lv in metering_collection.LEVELS}
    document = {"as_of": context.when_iso(now), "counts": counts, "warnings": [w.as_dict() for w in found]}
    emit(as_json, document, "\n".join([f"{counts['red']} red, {counts['yellow']} yellow, {counts['blue']} blue"]
                                      + [f"  {w.level:6} {w.account_no} ({w.area}): {'; '.join(w.reasons)}"
                                         for w in found]))
