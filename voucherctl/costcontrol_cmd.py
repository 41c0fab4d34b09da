"""``voucherctl cost-control``: remote cost control (费控) of prepaid accounts."""
from __future__ import annotations

import click

from vouchers.metering import cost_control as cc
from voucherctl import context
from voucherctl.billing_cmd import actor, catalog, cli_errors, config, parse_instant
from voucherctl.output import emit, json_option


@click.group("cost-control")
def cost_control() -> None:
    """Low-balance warnings, zero-balance notices, disconnect and reconnect orders."""


def _order_json(order: cc.OrderView) -> dict[str, object]:
    return context.local_times(order.as_dict(), order, "not_before", "created_at", "acknowledged_at")


@cost_control.command("run")
@click.option("--as-of", "as_of", default=None,
              help="Evaluate at this earlier time (default: now; never later), e.g. 2026-11-27T08:05.")
@json_option
@cli_errors
def run(as_of: str | None, as_json: bool) -> None:
    """Evaluate every prepaid account: notify, order disconnections and reconnections."""
    result = cc.run(context.sessions(), now=context.now(),
                    as_of=parse_instant(as_of, "--as-of") if as_of is not None else None, catalog=catalog(),
                    config=config())
    emit(as_json, result.as_dict(),
         f"{result.accounts} prepaid accounts: {result.warnings} warnings, {result.notices} zero-balance notices, "
         f"{result.disconnects} disconnect orders, {result.reconnects} reconnect orders")


@cost_control.command("orders")
@click.option("--status", type=click.Choice(["pending", "done", "failed", "cancelled", "all"]), default="pending",
              show_default=True)
@click.option("--account", default=None, help="Only this account.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 1000))
@json_option
@cli_errors
def orders(status: str, account: str | None, limit: int, as_json: bool) -> None:
    """Disconnect / reconnect orders for the metering head-end, oldest first."""
    with context.sessions().begin() as session:
        found = cc.list_orders(session, status=None if status == "all" else status, account_no=account,
                                         limit=limit)
    emit(as_json, {"orders": [_order_json(o) for o in found]},
         "\n".join(f"{o.order_id} {o.kind:10} {o.status:9} {o.account_no} meter {o.meter_no} not before "
                   f"{context.when_text(o.not_before)}" for o in found) or "no orders")


@cost_control.command("ack")
@click.argument("order_id", type=int)
@click.option("--result", "outcome", type=click.Choice(["done", "failed"]), required=True)
@click.option("--detail", default=None, help="What the head-end reported.")
@json_option
@cli_errors
def ack(order_id: int, outcome: str, detail: str | None, as_json: bool) -> None:
    """Record the head-end's result for an order (refused before the order's not-before time)."""
    with context.sessions().begin() as session:
        order = cc.acknowledge_order(session, order_id, result=outcome, now=context.now(), actor=actor(),
                                     detail=detail, tz=config().tz)
    emit(as_json, _order_json(order), f"order {order.order_id} ({order.kind}) {order.status}")
