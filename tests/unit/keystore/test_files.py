"""vouchers.keystore.files: private files are never written through a planted symlink."""
from __future__ import annotations

import os
import stat

import pytest

from vouchers.keystore import files

FIXED = "0123456789abcdef"


@pytest.fixture
def target(tmp_path):
    victim = tmp_path / "elsewhere" / "victim"
    victim.parent.mkdir()
    victim.write_bytes(b"precious")
    return victim


def _plant(link, target) -> None:
    link.symlink_to(target)


def test_a_symlink_at_the_temp_name_is_never_followed(tmp_path, target, monkeypatch):
    out = tmp_path / "export.age"
    monkeypatch.setattr(files.secrets, "token_hex", lambda n: FIXED)
    # the attacker guesses the temp name (here made guessable), and the old pid-only name too
    _plant(tmp_path / f".export.age.{FIXED}.{os.getpid()}.tmp", target)
    _plant(tmp_path / f".export.age.{os.getpid()}.tmp", target)
    with pytest.raises(FileExistsError):
        files.write_private(out, b"secret codes")
    assert target.read_bytes() == b"precious"
    assert not out.exists()


def test_temp_names_are_unpredictable_so_a_planted_name_is_simply_missed(tmp_path, target):
    out = tmp_path / "export.age"
    _plant(tmp_path / f".export.age.{os.getpid()}.tmp", target)  # the name the pid alone used to give
    files.write_private(out, b"secret codes")
    assert target.read_bytes() == b"precious"
    assert out.read_bytes() == b"secret codes"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert not out.is_symlink()
    assert files.temp_path(out) != files.temp_path(out)
    assert files.temp_path(out).name.rsplit(".", 2)[-2] == str(os.getpid())  # cardstore's sweep reads it


def test_create_private_refuses_any_existing_name_and_ignores_the_umask(tmp_path, target):
    link = tmp_path / "link"
    _plant(link, target)
    with pytest.raises(FileExistsError):
        files.create_private(link)
    old = os.umask(0)
    try:
        fd = files.create_private(tmp_path / "new")
    finally:
        os.umask(old)
    os.close(fd)
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o600
    assert target.read_bytes() == b"precious"
