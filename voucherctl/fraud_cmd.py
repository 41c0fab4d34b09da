"""``voucherctl fraud``: alerts raised by suspicious redemption attempts."""
from __future__ import annotations

import datetime as dt

import click

from vouchers.services.fraud import KINDS, list_alerts, list_lockouts, unlock as unlock_subject
from vouchers.services.throttle import ThrottleLimits, build, subject_keys
from voucherctl import context
from voucherctl.output import REASON, CliError, emit, json_option


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


def _throttle():  # type: ignore[no-untyped-def]
    """The throttle store the web uses (Redis if VOUCHER_REDIS_URL, else the database) and its limits."""
    settings = context.settings()
    limits = ThrottleLimits.from_env(settings.env)
    return build(settings, limits), limits


@fraud.command("lockouts")
@click.option("--all", "show_all", is_flag=True, help="Also subjects with failures that are not locked out yet.")
@json_option
def lockouts(show_all: bool, as_json: bool) -> None:
    """Clients, IP addresses and accounts locked out by failed attempts now (counters of the window)."""
    throttle, limits = _throttle()
    with context.sessions().begin() as session:
        found = list_lockouts(session, throttle, limits, now=context.now(), locked_only=not show_all)

    def human() -> None:
        if not found:
            click.echo("no lockouts")
        for f in found:
            click.echo(f"{f.subject:<40} {f.failures:>5}/{f.limit:<5} "
                       f"{'LOCKED' if f.locked else 'counting'}  {f.seconds_left} s left")

    emit(as_json, {"lockouts": [f.as_json() for f in found]}, human)


@fraud.command("unlock")
@click.option("--account", "account_no", default=None, metavar="NO", help="An account (in every channel).")
@click.option("--ip", default=None, metavar="IP", help="A web client address.")
@click.option("--client", "client_id", default=None, metavar="ID", help="An API client (till).")
@click.option("--reason", required=True, type=REASON, metavar="TEXT", help="Why (kept in the audit trail).")
@json_option
def unlock(account_no: str | None, ip: str | None, client_id: str | None, reason: str, as_json: bool) -> None:
    """Lift a lockout at once: forget the subject's failures of the window (audited)."""
    import os

    given = [(kind, value) for kind, value in (("account", account_no), ("ip", ip), ("client", client_id))
             if value is not None]
    if len(given) != 1:
        raise CliError("give exactly one of --account, --ip, --client")
    kind, value = given[0]
    value = value.strip()
    if not value or len(value) > 100 or any(c.isspace() for c in value):
        raise CliError(f"--{kind} must be one word, got {value!r}")
    keys = subject_keys(account_no=value if kind == "account" else None, ip=value if kind == "ip" else None,
                        client_id=value if kind == "client" else None)
    throttle, _ = _throttle()
    actor = os.environ.get("VOUCHER_ACTOR") or os.environ.get("USER") or "operator"
    with context.sessions().begin() as session:
        cleared = unlock_subject(session, throttle, keys, subject_type=kind, subject_id=value, reason=reason,
                                 now=context.now(), actor=actor)
    emit(as_json, {"subject_type": kind, "subject_id": value, "counters_cleared": cleared},
         f"unlocked {kind} {value} ({cleared} counter(s) cleared)")
