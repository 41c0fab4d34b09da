"""``voucherctl collection``: the monthly collection analysis and per-customer warnings."""
from __future__ import annotations

from pathlib import Path

import click

from vouchers.metering import collection as collection_service
from print_templates import metering_reports as pdf
from voucherctl import context
from voucherctl.billing_cmd import catalog, cli_errors, config, parse_instant
from voucherctl.output import emit, json_option, output_files


@click.group()
def collection() -> None:
    """Collection rate (电费回收率), arrears aging and early warning (电费回收预警)."""


@collection.command("report")
@click.option("--month", required=True, help="Month YYYY-MM.")
@click.option("--csv", "csv_out", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report as CSV to this file.")
@click.option("--pdf", "pdf_out", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report as PDF (with charts) to this file.")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True, help="PDF language.")
@click.option("--top", default=20, show_default=True, type=click.IntRange(0, 1000), help="Largest arrears listed.")
@json_option
@cli_errors
def report(month: str, csv_out: Path | None, pdf_out: Path | None, lang: str, top: int, as_json: bool) -> None:
    """Collection rates (cumulative, this year, earlier years), aging by area and channel."""
    with output_files(csv_out, pdf_out) as (csv_file, pdf_file):
        with context.sessions().begin() as session:
            result = collection_service.collection_report(session, month, config=config(), top=top)
        if csv_file is not None:
            csv_file.write_bytes(collection_service.report_csv(result).encode("utf-8"))
        if pdf_file is not None:
            pdf_file.write_bytes(pdf.report_pdf(result, lang=lang, branding=context.print_branding()))
    document = result.as_dict()
    if as_json or (csv_out is None and pdf_out is None):
        total = document["total"]
        emit(as_json, document,
             f"{month}: cumulative {total['cumulative_rate']}%, this year {total['this_year_rate']}%, earlier "
             f"years {total['earlier_years_rate']}%, arrears {total['arrears']['total']}")
    else:
        click.echo(" ".join(f"wrote {p}" for p in (csv_out, pdf_out) if p is not None))


@collection.command("warnings")
@click.option("--as-of", "as_of", default=None, help="Evaluate at this time (default: now).")
@click.option("--level", type=click.Choice(["red", "yellow", "blue"]), default=None, help="Only this level.")
@json_option
@cli_errors
def warnings(as_of: str | None, level: str | None, as_json: bool) -> None:
    """Customers with a red / yellow / blue warning level, with the reasons."""
    now = parse_instant(as_of, "--as-of")
    with context.sessions().begin() as session:
        found = collection_service.warnings(session, now=now, catalog=catalog(), config=config())
    if level is not None:
        found = [w for w in found if w.level == level]
    counts = {lv: sum(1 for w in found if w.level == lv) for lv in collection_service.LEVELS}
    document = {"as_of": now.isoformat(), "counts": counts, "warnings": [w.as_dict() for w in found]}
    emit(as_json, document, "\n".join([f"{counts['red']} red, {counts['yellow']} yellow, {counts['blue']} blue"]
                                      + [f"  {w.level:6} {w.account_no} ({w.area}): {'; '.join(w.reasons)}"
                                         for w in found]))
