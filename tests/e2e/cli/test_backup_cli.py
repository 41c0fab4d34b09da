"""`voucherctl backup home` and `backup restore-home`: the key store leaves encrypted and comes back usable."""
from __future__ import annotations

import pytest
from pyrage import x25519

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the key store, not the database


def test_backup_and_restore_of_the_home(cli, tmp_path):
    cli("init", check=True)
    cli("keys", "create", check=True)
    identity = x25519.Identity.generate()
    (tmp_path / "recovery.key").write_text(str(identity) + "\n")
    made = cli("backup", "home", "--out", str(tmp_path / "home.age"), "--recipient", str(identity.to_public()),
               "--json", check=True).json()
    assert made["files"] >= 3
    again = cli("backup", "home", "--out", str(tmp_path / "home.age"), "--recipient", str(identity.to_public()))
    assert again.code != 0 and len(again.err.strip().splitlines()) == 1 and "exists already" in again.err
    restored = cli("backup", "restore-home", "--archive", str(tmp_path / "home.age"), "--identity-file",
                   str(tmp_path / "recovery.key"), "--into", str(tmp_path / "restored"), "--json", check=True).json()
    assert restored["files"] == made["files"]
    keys = cli("keys", "list", "--json", check=True).json()
    copy = cli("keys", "list", "--json", env={"VOUCHER_HOME": str(tmp_path / "restored")}, check=True).json()
    assert copy == keys
