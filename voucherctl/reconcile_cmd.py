"""``voucherctl reconcile``: a channel's settlement file against the books (对账)."""
from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import click

from vouchers.books import formats
from vouchers.books.errors import FileRejected
from vouchers.books.reconcile import write_report_csv
from vouchers.books.timeutil import local_date, zone
from vouchers.display import local_text
from voucherctl import context
from voucherctl.ledger_cmd import money
from voucherctl.output import OPERATOR, emit, excel_option, furthest, json_option, output_files, progress
from voucherctl.payments_cmd import report_rejection


@click.command("reconcile")
@click.option("--channel", required=True, help="The channel whose settlement file this is.")
@click.option("--format", "fmt", type=click.Choice(formats.FORMATS), default="generic", show_default=True,
              help="generic (docs/contract.md §6.3), or a channel's own bill: alipay (with --channel alipay only).")
@click.option("--csv", "csv_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write every line with its status to this CSV file.")
@click.option("--operator", default="reconciliation", show_default=True, type=OPERATOR)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@excel_option
@json_option
def reconcile(channel: str, fmt: str, csv_out: Path | None, operator: str, file: Path, excel: bool,
              as_json: bool) -> None:
    """Match the file against the channel's payments over its period; settle confirmed matches once.

    A progress bar on a terminal counts the bytes of the file read."""
    settings = context.settings()
    try:
        with output_files(csv_out) as (csv_file,), progress(file.stat().st_size, f"reading {file.name}") as advance, \
                context.sessions().begin() as session:
            result = formats.reconcile_payments(session, channel, file, fmt=fmt, now=context.now(), actor=operator,
                                                tz=settings.timezone, on_read=furthest(advance))
            rows = (write_report_csv(session, result, csv_file, tz=settings.timezone, excel=excel)
                    if csv_file else None)
    except FileRejected as e:
        report_rejection(e, as_json)
        return
    document = result.contract_document()
    document["period"] = {"start": context.when_iso(result.period_start), "end": context.when_iso(result.period_end)}
    if rows is not None:
        document["csv"] = {"path": str(csv_out), "rows": rows}

    def human() -> None:
        local = zone(settings.timezone)
        last_day = local_date(result.period_end - dt.timedelta(microseconds=1), local)
        click.echo(f"{result.channel} {result.file_name}: {result.lines} lines, period "
                   f"{local_date(result.period_start, local)} .. {last_day} ({settings.timezone}: "
                   f"{local_text(result.period_start, local)} .. {local_text(result.period_end, local)})")
        click.echo(f"  matched {result.matched} (settled now {result.settled_count}"
                   + "".join(f", {money(a)} {c}" + (f" less fees {money(result.settled_fees[c])}"
                                                    if result.settled_fees.get(c) else "")
                             for c, a in sorted(result.settled_amounts.items()))
                   + f"; settled before {result.already_settled})")
        if result.refunds:
            counts = Counter(o.status for o in result.refunds)
            click.echo("  refunds: " + ", ".join(f"{status} {n}" for status, n in sorted(counts.items())))
        keys = ("amount_mismatch", "account_mismatch", "missing_in_books", "missing_in_file")
        for key in (("refunded", *keys, "refunds_missing_in_books") if result.refunds else keys):
            refs = getattr(result, key)
            click.echo(f"  {key}: {len(refs)}" + (f"  {', '.join(refs[:10])}{' ...' if len(refs) > 10 else ''}"
                                                  if refs else ""))
        if rows is not None:
            click.echo(f"  report: {csv_out} ({rows} rows)")

    emit(as_json, document, human)
