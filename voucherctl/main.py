"""Entry point: ``voucherctl``. Every expected failure is one line on stderr."""
from __future__ import annotations

import ast
import importlib
import importlib.util
import logging
import os
import signal
import sys
from pathlib import Path

import click

from voucherctl.output import CliError
from vouchers.errors import VoucherError

# Each command or group: its name -> "module:attribute" (each module owns one area). A module is imported
# only when its command runs, so a command pays for its own imports only (see _LazyGroup for the help).
_COMMANDS: dict[str, str] = {
    "init": "voucherctl.init_cmd:init",
    "keys": "voucherctl.keys_cmd:keys",
    "batch": "voucherctl.batch_cmd:batch",
    "audit": "voucherctl.audit_cmd:audit",
    "accounts": "voucherctl.accounts_cmd:accounts",
    "vouchers": "voucherctl.vouchers_cmd:vouchers",
    "payments": "voucherctl.payments_cmd:payments",
    "reconcile": "voucherctl.reconcile_cmd:reconcile",
    "report": "voucherctl.report_cmd:report",
    "ledger": "voucherctl.ledger_cmd:ledger",
    "clients": "voucherctl.clients_cmd:clients",
    "serve": "voucherctl.serve_cmd:serve",
    "fraud": "voucherctl.fraud_cmd:fraud",
    "readings": "voucherctl.readings_cmd:readings",
    "billing": "voucherctl.billing_cmd:billing",
    "collection": "voucherctl.collection_cmd:collection",
    "cost-control": "voucherctl.costcontrol_cmd:cost_control",
    "tariff": "voucherctl.tariff_cmd:tariff",
    "sts": "voucherctl.sts_cmd:sts",
    "outbox": "voucherctl.outbox_cmd:outbox_group",
    "idempotency": "voucherctl.idempotency_cmd:idempotency",
    "branding": "voucherctl.branding_cmd:branding",
    "backup": "voucherctl.backup_cmd:backup",
    "staff": "voucherctl.staff_cmd:staff",
    "login": "voucherctl.staff_cmd:login",
    "logout": "voucherctl.staff_cmd:logout",
    "requests": "voucherctl.requests_cmd:requests",
}


class _LazyGroup(click.Group):
    """A group whose commands are imported by name when first asked for.

    The top-level help lists every command: for that, a module not imported yet is read, not run (its
    command function's docstring gives the one-line summary), so ``voucherctl --help`` stays quick.
    """

    _listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attr = target.split(":")
        if self._listing and module not in sys.modules:
            stand_in = _summary_only(cmd_name, module, attr)
            if stand_in is not None:
                return stand_in
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_commands(ctx, formatter)
        finally:
            self._listing = False


def _summary_only(name: str, module: str, attr: str) -> click.Command | None:
    """A stand-in carrying only the docstring of ``module.attr``, read from the source (None if not found)."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return None
    tree = ast.parse(Path(spec.origin).read_text("utf-8"))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == attr:
            return click.Command(name, help=ast.get_docstring(node, clean=False))
    return None


DISTRIBUTION = "voucher-platform"  # the installed distribution (setup.cfg ``name``)


def _version() -> str:
    """The installed package's version (importlib.metadata): what a bug report or an upgrade note names."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown (not installed)"


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    click.echo(f"voucherctl {_version()}")
    ctx.exit()


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Print the installed version and exit.")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (never secrets).")
def cli(verbose: int) -> None:
    """Prepaid electricity recharge vouchers: issue, print, sell, redeem, account.

    Configuration comes from the environment: VOUCHER_HOME (key store and
    local state, default ./var), VOUCHER_DATABASE_URL (default SQLite in
    VOUCHER_HOME), VOUCHER_KEY_PASSPHRASE (the issuer's: unlocks private keys)
    and VOUCHER_WEB_PASSPHRASE (the web's: pepper and vending keys; all `serve` needs).
    """
    logging.basicConfig(level=logging.WARNING - 10 * min(verbose, 2), stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")


# click >= 8.2 raises this for a group called without a command (8.1 printed the help and exited).
_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


def _one_line(message: str) -> str:
    return " ".join(str(message).split())


def _terminate(signum: int, _frame) -> None:
    # Unwind like Ctrl-C so half-written files and transactions are cleaned up.
    raise KeyboardInterrupt


def _after_success() -> None:
    """Notes a command leaves for after its success (only a command that proved an operator has any)."""
    staff_auth = sys.modules.get("voucherctl.staff_auth")
    if staff_auth is not None:
        staff_auth.flush_note()


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; map every expected failure to one stderr line and exit code."""
    signal.signal(signal.SIGTERM, _terminate)
    try:
        cli.main(args=argv, prog_name="voucherctl", standalone_mode=False)
        _after_success()
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.exceptions.Abort:
        click.echo("voucherctl: error: aborted", err=True)
        return 130
    except _NO_ARGS_IS_HELP as e:  # `voucherctl` or `voucherctl batch` alone: the help, readable, not one line
        e.show()
        return e.exit_code
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
        from vouchers.storage.errors import describe_database_error

        described = describe_database_error(e)
        if described is None:
            logging.getLogger(__name__).debug("unexpected error", exc_info=True)
            described = f"unexpected {type(e).__name__} (set VOUCHER_DEBUG=1 for details)"
        click.echo(f"voucherctl: error: {_one_line(described)}", err=True)
        return 1
    return 0


def entry() -> None:
    sys.exit(main())
