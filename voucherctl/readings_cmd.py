"""``voucherctl readings``: import meter readings (all or nothing per file)."""
from __future__ import annotations

from pathlib import Path

import click

from vouchers.metering.errors import ReadingsRejected
from vouchers.metering.readings import import_readings_file
from voucherctl import context
from voucherctl.billing_cmd import actor, cli_errors, config
from voucherctl.output import CliError, emit, json_option


@click.group()
def readings() -> None:
    """Meter readings (CSV: account_no,meter,reading_date,reading[,peak,valley[,replacement]])."""


@readings.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option
@cli_errors
def import_file(file: Path, as_json: bool) -> None:
    """Import FILE. Every line is checked; nothing is stored if any line fails.

    A decreasing reading is refused unless the line is marked as a meter
    replacement (column ``replacement`` = 1); an unknown meter is refused;
    the same meter and day again with the same values is skipped.
    """
    try:
        with context.sessions().begin() as session, file.open("rb") as stream:
            result = import_readings_file(session, stream, file_name=file.name, now=context.now(), actor=actor(),
                                          tz=config().tz)
    except ReadingsRejected as e:
        if as_json:
            emit(True, {"ok": False, "file": str(file), "lines": e.lines, "total_errors": e.total_errors,
                        "errors": [err.as_dict() for err in e.errors]})
        else:
            for err in e.errors[:20]:
                click.echo(f"line {err.line}: {err.message}", err=True)
        raise CliError(f"{file.name}: {e.summary}") from e
    document = {"ok": True, "file": str(file), **result.as_dict()}
    emit(as_json, document, f"{file.name}: {result.inserted} readings recorded, {result.duplicates} duplicates "
                            f"skipped ({result.lines} lines)")
