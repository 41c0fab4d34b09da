"""``voucherctl fraud``: alerts raised by suspicious redemption attempts."""
from __future__ import annotations

import datetime as dt

import click

from vouchers.services.fraud import KINDS, list_alerts
from voucherctl import context
from voucherctl.output import CliError, emit, json_option


@click.group()
def fraud() -> None:
    """Fraud alerts: attempts on void, not-activated or canary vouchers, forged tokens, lockouts."""


@fraud.command("alerts")
@click.option("--since", default=None, help="Only alerts at or after this date (YYYY-MM-DD, business time zone).")
@click.option("--kind", type=click.Choice(KINDS), default=None, help="Only this kind.")
@click.option("--limit", default=1000, show_default=True, type=click.IntRange(1, 100_000))
@json_option
def alerts(since: str | None, kind: str | None, limit: int, as_json: bool) -> None:
    """Newest first."""
    since_at = None
    if since is not None:
        try:
            day = dt.date.fromisoformat(since)
        except ValueError as e:
            raise CliError(f"--since must be a date like 2026-11-26, got {since!r}") from e
        since_at = dt.datetime.combine(day, dt.time(0), tzinfo=context.settings().tz)
    with context.sessions().begin() as session:
        records = list_alerts(session, since=since_at, kind=kind, limit=limit)

    def human() -> None:
        if not records:
            click.echo("no fraud alerts")
        for a in records:
            who = a.client_id or a.ip or "?"
            click.echo(f"{a.at.isoformat(timespec='seconds')}  {a.kind:<17} serial={a.serial or '-'} "
                       f"status={a.voucher_status or '-'} via {a.channel} by {who} account={a.account_no or '-'}")

    emit(as_json, {"alerts": [a.as_json() for a in records]}, human)
