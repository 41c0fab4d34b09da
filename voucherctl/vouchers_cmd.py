"""``voucherctl vouchers``: jobs over cards (expiry)."""
from __future__ import annotations

import click

from vouchers.books import voucher_books
from voucherctl import context
from voucherctl.ledger_cmd import money, parse_date, today
from voucherctl.output import OPERATOR, emit, json_option


@click.group()
def vouchers() -> None:
    """Card jobs: expire unredeemed cards past their last valid day."""


@vouchers.command("expire")
@click.option("--as-of", "as_of", default=None,
              help="Expire active cards whose last valid day is before this date (default: today; never later).")
@click.option("--operator", default="expiry-job", show_default=True, type=OPERATOR)
@json_option
def expire(as_of: str | None, operator: str, as_json: bool) -> None:
    """Active cards past their last valid day -> expired; liability -> breakage income."""
    day = parse_date(as_of, "--as-of") if as_of else today()
    with context.sessions().begin() as session:
        result = voucher_books.expire_vouchers(session, day, context.now(), actor=operator,
                                               tz=context.settings().timezone)
    document = {"as_of": day.isoformat(), "expired": result.count,
                "amounts": {c: money(a) for c, a in sorted(result.amounts.items())},
                "by_batch": dict(sorted(result.by_batch.items())), "transaction_ids": list(result.transaction_ids)}
    emit(as_json, document, f"expired {result.count} cards (before {day})" + "".join(
        f"; {money(a)} {c} to breakage" for c, a in sorted(result.amounts.items())))
