"""``voucherctl batch activate``: sold stock becomes redeemable (attached by batch_cmd)."""
from __future__ import annotations

import dataclasses

import click

from ledger import voucher_books
from voucherctl import context
from voucherctl.ledger_cmd import money
from voucherctl.output import OPERATOR, emit, json_option


@click.command("activate")
@click.argument("batch_id")
@click.option("--distributor", "distributor_id", required=True, help="Who sold the cards.")
@click.option("--from", "from_serial", default=None, help="First serial of the sold range.")
@click.option("--to", "to_serial", default=None, help="Last serial of the sold range (same as --from for one card).")
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
