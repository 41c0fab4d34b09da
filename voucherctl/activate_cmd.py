"""``voucherctl batch consign`` and ``batch activate``: stock shipped to a distributor, sold stock made
redeemable (attached by batch_cmd)."""
from __future__ import annotations

import dataclasses
import functools

import click

from vouchers.books import stock, voucher_books
from voucherctl import context
from voucherctl.ledger_cmd import money
from voucherctl.output import OPERATOR, CliError, emit, json_option
from vouchers.errors import InvalidSerial
from vouchers.serials import range_last


def _serial_range(what: str, distributor_help: str):  # type: ignore[no-untyped-def]
    """BATCH_ID, --distributor and --from/--to of a ``what`` range (default: the whole batch)."""
    def decorate(command):  # type: ignore[no-untyped-def]
        for option in reversed((
                click.argument("batch_id"),
                click.option("--distributor", "distributor_id", required=True, help=distributor_help),
                click.option("--from", "from_serial", default=None,
                             help=f"First serial of the {what} range (default: the whole batch)."),
                click.option("--to", "to_serial", default=None,
                             help=f"Last serial of the {what} range (same as --from for one card)."),
                click.option("--count", "count", type=click.IntRange(1), default=None,
                             help="Instead of --to: the number of cards from --from."))):
            command = option(command)

        @functools.wraps(command)
        def with_count(*args, count: int | None = None, **kwargs):  # type: ignore[no-untyped-def]
            if count is not None:
                if kwargs.get("from_serial") is None or kwargs.get("to_serial") is not None:
                    raise CliError("--count goes with --from and instead of --to")
                try:
                    kwargs["to_serial"] = range_last(kwargs["from_serial"], count)
                except InvalidSerial as e:
                    raise CliError(f"--from/--count: {e}") from e
            return command(*args, **kwargs)
        return with_count
    return decorate


@click.command("activate")
@_serial_range("sold", "Who sold the cards.")
@click.option("--operator", default=None, type=OPERATOR, help="Who records the sale (default: the distributor).")
@json_option
def activate(batch_id: str, distributor_id: str, from_serial: str | None, to_serial: str | None,
             operator: str | None, as_json: bool) -> None:
    """Activate a batch or a serial range: Dr distributor, Dr commission, Cr voucher liability."""
    with context.sessions().begin() as session:
        result = voucher_books.activate(session, batch_id, distributor_id, from_serial, to_serial,
                                        now=context.now(), actor=operator or distributor_id)
    document = dataclasses.asdict(result)
    for key in ("face_value", "face_total", "commission_total", "receivable"):
        document[key] = money(document[key])
    emit(as_json, document,
         f"activated {result.count} cards of {result.batch_id} ({result.first_serial}..{result.last_serial}) for "
         f"{result.distributor_id}: liability {money(result.face_total)} {result.currency}, "
         f"commission {money(result.commission_total)}, receivable {money(result.receivable)}")


@click.command("consign")
@_serial_range("shipped", "Who receives the stock.")
@click.option("--operator", required=True, type=OPERATOR, help="Who ships the stock.")
@click.option("--reassign", is_flag=True, help="Also move inactive cards consigned to another distributor (returned "
                                               "stock sent elsewhere).")
@json_option
def consign(batch_id: str, distributor_id: str, from_serial: str | None, to_serial: str | None, operator: str,
            reassign: bool, as_json: bool) -> None:
    """Ship inactive stock to a distributor: only it may then activate those cards itself (over the API).

    Books nothing (the sale is booked at activation). Re-running for stock the
    distributor already holds changes nothing.
    """
    with context.sessions().begin() as session:
        result = stock.consign(session, batch_id, distributor_id, from_serial, to_serial, now=context.now(),
                               actor=operator, reassign=reassign)
    moved = "".join(f", {n} moved from {holder}" for holder, n in result.moved_from.items())
    emit(as_json, dataclasses.asdict(result),
         f"consigned {result.consigned} of {result.count} cards of {result.batch_id} "
         f"({result.first_serial}..{result.last_serial}) to {result.distributor_id}{moved}"
         + ("" if result.consigned else " (already its stock: nothing changed)"))
