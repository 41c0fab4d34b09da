"""The key store's backup: VOUCHER_HOME as one tar archive, age-encrypted to a recovery recipient.

The database backups (pgBackRest) do not hold the keys: without this archive no card code can be checked
(their hashes are keyed by the sealed pepper) and no batch can be printed or exported. The secrets inside
stay sealed by their passphrases; the age layer keeps even the sealed files away from whoever holds the
backup medium. Restoring writes into an empty directory only, never over a live key store.
"""
from __future__ import annotations

import hashlib
import io
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pyrage
from pyrage import x25519

from vouchers.keystore.errors import BackupError


@dataclass(frozen=True)
class HomeArchive:
    files: int
    bytes: int
    sha256: str  # of the encrypted file, to record beside it

    def as_dict(self) -> dict[str, object]:
        return {"files": self.files, "bytes": self.bytes, "sha256": self.sha256}


def _recipient(text: str) -> x25519.Recipient:
    try:
        return x25519.Recipient.from_str(text.strip())
    except Exception:  # pyrage raises its own RecipientError/ValueError
        raise BackupError("the recovery recipient is not an age public key (age1...)") from None


def _identity(text: str) -> x25519.Identity:
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    try:
        return x25519.Identity.from_str(lines[0])
    except Exception:
        raise BackupError("the identity file holds no age secret key (AGE-SECRET-KEY-1...)") from None


def _write_new_private(path: Path, data: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise BackupError(f"{path} exists already: choose a new file name") from None
    except OSError as e:
        raise BackupError(f"cannot create {path}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        path.unlink(missing_ok=True)
        raise BackupError(f"cannot write {path}: {e.strerror}") from None


def backup_home(home: Path, recipient: str, out: Path) -> HomeArchive:
    """Archive every file under ``home`` (modes kept) and encrypt it to ``recipient`` into ``out`` (0600)."""
    if not home.is_dir():
        raise BackupError(f"{home} is not a key store directory")
    if not (home / "keys" / "keyring.json").exists():
        raise BackupError(f"{home} holds no key store (keys/keyring.json): nothing to back up")
    to = _recipient(recipient)
    plain = io.BytesIO()
    files = 0
    with tarfile.open(fileobj=plain, mode="w") as tar:
        for path in sorted(home.rglob("*")):
            if path.is_symlink():
                raise BackupError(f"{path} is a symbolic link: a key store holds none, refusing to follow it")
            tar.add(path, arcname=str(path.relative_to(home)), recursive=False)
            files += path.is_file()
    sealed = pyrage.encrypt(plain.getvalue(), [to])
    _write_new_private(out, sealed)
    return HomeArchive(files, len(plain.getvalue()), hashlib.sha256(sealed).hexdigest())


def restore_home(archive: Path, identity: str, home: Path) -> HomeArchive:
    """Decrypt ``archive`` with ``identity`` and unpack it into ``home``, which must be empty or absent."""
    if home.exists() and (not home.is_dir() or any(home.iterdir())):
        raise BackupError(f"{home} is not empty: restore into a new directory, never over a key store")
    try:
        sealed = archive.read_bytes()
    except OSError as e:
        raise BackupError(f"cannot read {archive}: {e.strerror}") from None
    try:
        plain = pyrage.decrypt(sealed, [_identity(identity)])
    except BackupError:
        raise
    except Exception:
        raise BackupError("the archive cannot be decrypted with this identity (wrong key, or not an age file)") from None
    try:
        with tarfile.open(fileobj=io.BytesIO(plain), mode="r") as tar:
            members = tar.getmembers()
            for member in members:
                parts = Path(member.name).parts
                if not (member.isfile() or member.isdir()) or member.name.startswith("/") or ".." in parts:
                    raise BackupError(f"the archive holds {member.name!r}: only files and directories inside the "
                                      "home may be restored")
            home.mkdir(mode=0o700, parents=True, exist_ok=True)
            tar.extractall(home, members=members, filter="data")  # and the standard library's own checks
    except tarfile.TarError as e:
        raise BackupError(f"the archive is not a home backup: {e}") from None
    for member in members:  # the "data" filter keeps modes but not for group/other: the owner's, as archived
        os.chmod(home / member.name, member.mode & 0o700)
    files = sum(m.isfile() for m in members)
    return HomeArchive(files, len(plain), hashlib.sha256(sealed).hexdigest())
