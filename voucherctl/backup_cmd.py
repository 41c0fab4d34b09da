"""``voucherctl backup home`` / ``restore-home``: the key store, age-encrypted to a recovery recipient."""
from __future__ import annotations

from pathlib import Path

import click

from vouchers.keystore.backup import backup_home, restore_home
from voucherctl import context
from voucherctl.output import emit, json_option


@click.group("backup")
def backup() -> None:
    """Back up and restore VOUCHER_HOME (the key store and sealed card files; the database has its own)."""


@backup.command("home")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The encrypted archive to create (0600; an existing file is refused).")
@click.option("--recipient", required=True, help="The recovery recipient's age public key (age1...).")
@json_option
def home(out: Path, recipient: str, as_json: bool) -> None:
    """Archive VOUCHER_HOME encrypted to the recovery recipient (its secret key stays offline)."""
    source = context.settings().home
    done = backup_home(source, recipient, out)
    emit(as_json, {"home": str(source), "out": str(out), **done.as_dict()},
         f"backed up {done.files} files of {source} to {out} (sha256 {done.sha256}); keep it apart from the "
         "database backups and test a restore")


@backup.command("restore-home")
@click.option("--archive", type=click.Path(dir_okay=False, exists=True, path_type=Path), required=True)
@click.option("--identity-file", type=click.Path(dir_okay=False, exists=True, path_type=Path), required=True,
              help="The recovery recipient's age secret key (AGE-SECRET-KEY-1...).")
@click.option("--into", "into", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="A new or empty directory (never a key store in use); point VOUCHER_HOME at it afterwards.")
@json_option
def restore(archive: Path, identity_file: Path, into: Path, as_json: bool) -> None:
    """Decrypt and unpack a home archive into a new directory."""
    done = restore_home(archive, identity_file.read_text("utf-8"), into)
    emit(as_json, {"archive": str(archive), "into": str(into), **done.as_dict()},
         f"restored {done.files} files into {into}")
