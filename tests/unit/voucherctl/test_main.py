"""voucherctl's command table: every name resolves, and a command imports only what it needs."""
from __future__ import annotations

import subprocess
import sys

import click
import pytest

from voucherctl.main import _COMMANDS, cli, main


def test_every_registered_name_is_that_command():
    context = click.Context(cli)
    for name in cli.list_commands(context):
        command = cli.get_command(context, name)
        assert isinstance(command, click.Command) and command.name == name
    assert cli.get_command(context, "no-such-command") is None
    assert cli.list_commands(context) == sorted(_COMMANDS)


def _probe(code: str) -> tuple[str, set[str]]:
    """Run ``code`` in a fresh interpreter: what it printed, and the packages it had imported (top-level names,
    and ``vouchers.<subpackage>`` for ours)."""
    probe = (f"import sys\n{code}\n"
             "names = {'.'.join(m.split('.')[:2]) if m.startswith('vouchers.') else m.split('.')[0] "
             "for m in sys.modules}\n"
             "print('MODULES', ' '.join(sorted(names)))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                         check=True).stdout
    printed, _, modules = out.rpartition("MODULES ")
    return printed, set(modules.split())


def _modules_after(code: str) -> set[str]:
    return _probe(code)[1]


HEAVY = {"sqlalchemy", "alembic", "flask", "reportlab", "psycopg", "vouchers.metering", "issuer", "vouchers.books",
         "redeem_api"}


def test_the_entry_point_alone_imports_no_command():
    assert not _modules_after("import voucherctl.main") & HEAVY


def test_a_command_imports_only_its_own_area():
    loaded = _modules_after("from voucherctl.main import main\nmain(['tariff', '--help'])")
    assert "vouchers.tariffs" in loaded and not loaded & HEAVY


def _help(preload: bool) -> tuple[str, set[str]]:
    """``voucherctl --help`` in a fresh interpreter, with every command module imported first or not."""
    return _probe("import importlib\n"
                  "from voucherctl.main import _COMMANDS, main\n"
                  f"if {preload}:\n"
                  "    for target in _COMMANDS.values():\n"
                  "        importlib.import_module(target.split(':')[0])\n"
                  "main(['--help'])")


def test_help_lists_every_command_as_the_commands_themselves_would_without_importing_them():
    listed, loaded = _help(preload=False)
    assert listed == _help(preload=True)[0]
    assert all(f"\n  {name} " in listed for name in _COMMANDS)
    assert not loaded & HEAVY


@pytest.mark.parametrize("argv", [[], ["batch"]])
def test_a_group_without_a_command_shows_its_help_readably(argv, capsys):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"Usage: voucherctl {' '.join(argv)}".rstrip() + " [OPTIONS] COMMAND")
    assert "\nCommands:\n" in err and "error" not in err.split("\n", 1)[0]


def test_an_unknown_command_is_one_line(capsys):
    assert main(["batc"]) == 2
    assert capsys.readouterr().err == "voucherctl: error: No such command 'batc'.\n"


def test_version_prints_the_installed_package_version(capsys):
    from importlib.metadata import version

    assert main(["--version"]) == 0
    out = capsys.readouterr().out
    assert out == f"voucherctl {version('voucher-platform')}\n"
