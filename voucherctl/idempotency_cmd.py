"""``voucherctl idempotency purge``: drop finished Idempotency-Key records past their replay guarantee."""
from __future__ import annotations

import datetime as dt

import click

from vouchers.storage.retention import purge as purge_records
from voucherctl import context
from voucherctl.output import emit, json_option


@click.group("idempotency")
def idempotency() -> None:
    """Idempotency-Key records of the HTTP API (replays are guaranteed for the retention period)."""


@idempotency.command("purge")
@click.option("--older-than", "days", type=click.IntRange(1), default=None,
              help="Days a finished record is kept (default VOUCHER_IDEMPOTENCY_RETENTION_DAYS, else 7).")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=5000, show_default=True)
@json_option
def purge(days: int | None, batch_size: int, as_json: bool) -> None:
    """Delete finished records older than DAYS, in batches; in-flight ones are never deleted."""
    days = days if days is not None else context.settings().idempotency_retention_days
    now = context.now()
    deleted = purge_records(context.sessions(), now=now, older_than_days=days, batch_size=batch_size)
    cutoff = now - dt.timedelta(days=days)
    emit(as_json, {"deleted": deleted, "older_than_days": days, "cutoff": context.when_iso(cutoff)},
         f"deleted {deleted} idempotency records finished before {context.when_text(cutoff)} ({days} days)")
