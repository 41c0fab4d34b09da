"""The "data as of" every report command states (JSON fields, a text line, a PDF cover line) and its
``--allow-stale`` option. The reading itself (``VOUCHER_REPORTS_DATABASE_URL``, read-only transactions, the
lag check) is :func:`voucherctl.context.report_session`.

A CSV file gets no as-of: docs/contract.md §6.7 gives report CSVs a header line naming their columns first
and fixed columns, so neither a comment line nor an extra column fits; the command's output beside it
(text or JSON) states it.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from vouchers.services import report_source
from vouchers.services.report_source import LIVE, DataAsOf
from voucherctl import context
from voucherctl.output import emit

allow_stale_option = click.option(
    "--allow-stale", is_flag=True,
    help="Report even when the reports standby lags the primary by more than VOUCHER_REPORTS_MAX_LAG_SECONDS "
         "(the report states its data's as-of time either way).")


def _at(as_of: DataAsOf, iso: bool) -> str:
    if as_of.at is None:
        return "unknown"
    return context.when_iso(as_of.at) if iso else context.when_text(as_of.at, seconds=True)


def stamp(document: dict[str, Any], as_of: DataAsOf) -> dict[str, Any]:
    """``document`` with ``data_as_of`` (ISO 8601, business time with its offset, null if unknown),
    ``data_source`` (``live`` or ``standby``) and ``data_lag_seconds`` (a standby's lag; null when live)."""
    document["data_as_of"] = context.when_iso(as_of.at) if as_of.at is not None else None
    document["data_source"] = as_of.source
    document["data_lag_seconds"] = as_of.lag_seconds
    return document


def line(as_of: DataAsOf) -> str:
    """The text line: ``data as of 2026-12-07 09:00:05 (UTC+8): ...``."""
    if as_of.source == LIVE:
        return f"data as of {_at(as_of, False)}: live (read from the primary)"
    lag = "unknown lag" if as_of.lag_seconds is None else f"lag {as_of.lag_seconds:.0f} s"
    return f"data as of {_at(as_of, False)}: hot standby's last replayed commit ({lag})"


def pdf_note(as_of: DataAsOf) -> str:
    """The PDF cover line, in Chinese and English (the console's downloads state the same)."""
    import zoneinfo

    return report_source.pdf_note(as_of, zoneinfo.ZoneInfo(context.settings().timezone))


def emit_report(as_json: bool, document: dict[str, Any], human: Callable[[], object] | str, as_of: DataAsOf) -> None:
    """:func:`voucherctl.output.emit` of a report: the JSON stamped, the text followed by the as-of line."""
    def text() -> None:
        if callable(human):
            human()
        else:
            click.echo(human)
        click.echo(line(as_of))

    emit(as_json, stamp(document, as_of), text)
