"""Entry point: ``voucherctl``. Every expected failure is one line on stderr."""
from __future__ import annotations

import importlib
import logging
import os
import signal
import sys

import click

from voucherctl.output import CliError
from vouchers.errors import VoucherError

# (module, attribute) of each command or group; each module owns one area.
_COMMANDS: tuple[tuple[str, str], ...] = (
    ("voucherctl.init_cmd", "init"),
    ("voucherctl.keys_cmd", "keys"),
    ("voucherctl.batch_cmd", "batch"),
    ("voucherctl.audit_cmd", "audit"),
    ("voucherctl.accounts_cmd", "accounts"),
    ("voucherctl.vouchers_cmd", "vouchers"),
    ("voucherctl.payments_cmd", "payments"),
    ("voucherctl.reconcile_cmd", "reconcile"),
    ("voucherctl.report_cmd", "report"),
    ("voucherctl.ledger_cmd", "ledger"),
    ("voucherctl.clients_cmd", "clients"),
    ("voucherctl.serve_cmd", "serve"),
    ("voucherctl.fraud_cmd", "fraud"),
    ("voucherctl.readings_cmd", "readings"),
    ("voucherctl.billing_cmd", "billing"),
    ("voucherctl.collection_cmd", "collection"),
    ("voucherctl.costcontrol_cmd", "cost_control"),
    ("voucherctl.tariff_cmd", "tariff"),
    ("voucherctl.sts_cmd", "sts"),
    ("voucherctl.outbox_cmd", "outbox_group"),
    ("voucherctl.idempotency_cmd", "idempotency"),
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output on stderr (never secrets).")
def cli(verbose: int) -> None:
    """Prepaid electricity recharge vouchers: issue, print, sell, redeem, account.

    Configuration comes from the environment: VOUCHER_HOME (key store and
    local state, default ./var), VOUCHER_DATABASE_URL (default SQLite in
    VOUCHER_HOME) and VOUCHER_KEY_PASSPHRASE (unlocks private keys).
    """
    logging.basicConfig(level=logging.WARNING - 10 * min(verbose, 2), stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")


for _module, _attr in _COMMANDS:
    try:
        cli.add_command(getattr(importlib.import_module(_module), _attr))
    except ModuleNotFoundError as _e:  # an area not built yet in this checkout
        if _e.name != _module:
            raise


def _one_line(message: str) -> str:
    return " ".join(str(message).split())


def _terminate(signum: int, _frame) -> None:
    # Unwind like Ctrl-C so half-written files and transactions are cleaned up.
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; map every expected failure to one stderr line and exit code."""
    signal.signal(signal.SIGTERM, _terminate)
    try:
        cli.main(args=argv, prog_name="voucherctl", standalone_mode=False)
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.exceptions.Abort:
        click.echo("voucherctl: error: aborted", err=True)
        return 130
    except click.UsageError as e:
        click.echo(f"voucherctl: error: {_one_line(e.format_message())}", err=True)
        return 2
    except (click.ClickException, CliError) as e:
        click.echo(f"voucherctl: error: {_one_line(e.format_message())}", err=True)
        return e.exit_code or 1
    except VoucherError as e:
        click.echo(f"voucherctl: error: {_one_line(str(e))}", err=True)
        return 1
    except KeyboardInterrupt:
        click.echo("voucherctl: error: interrupted", err=True)
        return 130
    except Exception as e:  # last resort: still one line, details only with -v
        if os.environ.get("VOUCHER_DEBUG"):
            raise
        from storage.errors import describe_database_error

        described = describe_database_error(e)
        if described is None:
            logging.getLogger(__name__).debug("unexpected error", exc_info=True)
            described = f"unexpected {type(e).__name__} (set VOUCHER_DEBUG=1 for details)"
        click.echo(f"voucherctl: error: {_one_line(described)}", err=True)
        return 1
    return 0


def entry() -> None:
    sys.exit(main())
