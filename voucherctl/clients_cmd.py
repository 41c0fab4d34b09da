"""``voucherctl clients``: API clients of the HTTP API (create prints the key once; list; revoke)."""
from __future__ import annotations

import click

from vouchers.services.clients import create_client, list_clients, revoke_client
from vouchers.storage.api_models import CLIENT_ROLES
from voucherctl import context
from voucherctl.output import CLIENT_NAME, OPERATOR, emit, json_option


@click.group()
def clients() -> None:
    """API clients: terminals, distributors, channels, finance, admins, metering head-ends."""


@clients.command("create")
@click.option("--name", required=True, type=CLIENT_NAME, help="Who this client is, e.g. 'Till 3, Hongdu supermarket'.")
@click.option("--role", required=True, type=click.Choice(CLIENT_ROLES), help="What it may call.")
@click.option("--channel", default=None, help="Payment channel of a channel client (e.g. alipay).")
@click.option("--distributor", "distributor_id", default=None, help="Distributor id of a distributor client.")
@click.option("--operator", default="cli", show_default=True, type=OPERATOR, help="Who creates it (audit trail).")
@json_option
def create(name: str, role: str, channel: str | None, distributor_id: str | None, operator: str,
           as_json: bool) -> None:
    """Create a client and print its API key ONCE (only a hash is stored)."""
    with context.sessions().begin() as session:
        record, api_key = create_client(session, name=name, role=role, channel=channel,
                                        distributor_id=distributor_id, now=context.now(), actor=operator)
    document = {**record.as_json(), "api_key": api_key}
    emit(as_json, document, lambda: click.echo(
        f"created {record.client_id} ({record.role}{', ' + record.channel if record.channel else ''}"
        f"{', distributor ' + record.distributor_id if record.distributor_id else ''})\n"
        f"API key (shown once, store it now): {api_key}"))


@clients.command("list")
@json_option
def list_(as_json: bool) -> None:
    """All clients (never their keys)."""
    with context.sessions().begin() as session:
        records = list_clients(session)

    def human() -> None:
        if not records:
            click.echo("no API clients")
        for r in records:
            extra = r.channel or r.distributor_id or ""
            click.echo(f"{r.client_id}  {r.role:<11} {extra:<20} {'REVOKED' if r.revoked else 'active ':<8} {r.name}")

    emit(as_json, {"clients": [r.as_json() for r in records]}, human)


@clients.command("revoke")
@click.argument("client_id")
@click.option("--operator", default="cli", show_default=True, type=OPERATOR, help="Who revokes it (audit trail).")
@json_option
def revoke(client_id: str, operator: str, as_json: bool) -> None:
    """Revoke a client's key: its next request gets 401."""
    with context.sessions().begin() as session:
        record = revoke_client(session, client_id, now=context.now(), actor=operator)
    emit(as_json, record.as_json(), f"revoked {record.client_id}")
