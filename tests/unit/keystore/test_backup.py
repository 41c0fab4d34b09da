"""The key store's backup: an age-encrypted tar of VOUCHER_HOME that restores to the same, usable key store."""
from __future__ import annotations

import datetime as dt
import io
import stat
import tarfile

import pyrage
import pytest
from pyrage import x25519

from issuer.signing_keys import create_key, unlock_signing_key
from tests.conftest import cheap_sealing
from vouchers.keystore.backup import backup_home, restore_home
from vouchers.keystore.errors import BackupError
from vouchers.keystore.store import KeyStore
from vouchers.keystore.web_keys import WebKeys

PASSPHRASE = "backup test passphrase"
WEB = "backup test web secret"
NOW = dt.datetime(2026, 11, 26, 2, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def home(tmp_path):
    home = tmp_path / "home"
    with cheap_sealing():
        store = KeyStore(home)
        store.initialise(PASSPHRASE, WEB)
        create_key(store, PASSPHRASE, NOW)
    return home


@pytest.fixture
def recovery():
    identity = x25519.Identity.generate()
    return identity, str(identity.to_public())


def test_a_restored_home_opens_with_the_same_passphrases_and_keys(home, recovery, tmp_path):
    identity, recipient = recovery
    archive = tmp_path / "home.tar.age"
    made = backup_home(home, recipient, archive)
    assert made.files >= 3 and stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert b"keyring" not in archive.read_bytes()  # encrypted, not a tar with readable names
    restored = restore_home(archive, str(identity), tmp_path / "restored")
    assert restored.files == made.files and restored.sha256 == made.sha256
    original, copy = KeyStore(home), KeyStore(tmp_path / "restored")
    assert [r.key_id for r in copy.records()] == [r.key_id for r in original.records()]
    assert unlock_signing_key(copy, PASSPHRASE) == unlock_signing_key(original, PASSPHRASE)
    assert WebKeys.open(tmp_path / "restored", WEB).pepper() == WebKeys.open(home, WEB).pepper()
    for path in (tmp_path / "restored").rglob("*"):  # nothing readable by others after the restore either
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


def test_an_existing_archive_is_never_overwritten(home, recovery, tmp_path):
    archive = tmp_path / "home.tar.age"
    archive.write_bytes(b"an older backup")
    with pytest.raises(BackupError, match="exists already"):
        backup_home(home, recovery[1], archive)
    assert archive.read_bytes() == b"an older backup"


@pytest.mark.parametrize("recipient", ["", "age1notakey", "AGE-SECRET-KEY-1QQQ", "ssh-ed25519 AAAA"])
def test_the_recipient_must_be_an_age_public_key(home, tmp_path, recipient):
    with pytest.raises(BackupError, match="age public key"):
        backup_home(home, recipient, tmp_path / "out.age")
    assert not (tmp_path / "out.age").exists()


def test_a_directory_without_a_key_store_is_refused(tmp_path, recovery):
    (tmp_path / "empty").mkdir()
    with pytest.raises(BackupError, match="no key store"):
        backup_home(tmp_path / "empty", recovery[1], tmp_path / "out.age")


def test_restore_never_writes_over_a_key_store(home, recovery, tmp_path):
    identity, recipient = recovery
    backup_home(home, recipient, tmp_path / "a.age")
    with pytest.raises(BackupError, match="not empty"):
        restore_home(tmp_path / "a.age", str(identity), home)


def test_the_wrong_identity_restores_nothing(home, recovery, tmp_path):
    backup_home(home, recovery[1], tmp_path / "a.age")
    with pytest.raises(BackupError, match="cannot be decrypted"):
        restore_home(tmp_path / "a.age", str(x25519.Identity.generate()), tmp_path / "restored")
    with pytest.raises(BackupError, match="no age secret key"):
        restore_home(tmp_path / "a.age", "not a key", tmp_path / "restored2")
    assert not (tmp_path / "restored2").exists() or not any((tmp_path / "restored2").iterdir())


@pytest.mark.parametrize("name, kind", [("../outside", tarfile.REGTYPE), ("/etc/evil", tarfile.REGTYPE),
                                        ("link", tarfile.SYMTYPE)])
def test_a_crafted_archive_cannot_write_outside_the_directory(recovery, tmp_path, name, kind):
    identity, recipient = recovery
    plain = io.BytesIO()
    with tarfile.open(fileobj=plain, mode="w") as tar:
        member = tarfile.TarInfo(name)
        member.type = kind
        member.linkname = "/etc/passwd" if kind == tarfile.SYMTYPE else ""
        tar.addfile(member, io.BytesIO(b"") if kind == tarfile.REGTYPE else None)
    (tmp_path / "evil.age").write_bytes(pyrage.encrypt(plain.getvalue(), [x25519.Recipient.from_str(recipient)]))
    with pytest.raises(BackupError):
        restore_home(tmp_path / "evil.age", str(identity), tmp_path / "restored")
    assert not (tmp_path / "outside").exists()
