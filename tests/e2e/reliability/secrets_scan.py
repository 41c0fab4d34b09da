"""Finding secrets in bytes: every spelling a secret could leak in (raw, hex, base64, grouped/ungrouped)."""
from __future__ import annotations

import base64
import re
import subprocess

from sqlalchemy.engine import make_url


def byte_forms(raw: bytes) -> set[bytes]:
    """Spellings of binary key material: raw, hex (both cases), base64/base64url (with or without padding)."""
    forms = {raw, raw.hex().encode(), raw.hex().upper().encode(), base64.b64encode(raw),
             base64.urlsafe_b64encode(raw), base64.b64encode(raw).rstrip(b"="),
             base64.urlsafe_b64encode(raw).rstrip(b"=")}
    return {f for f in forms if len(f) >= 16}


def code_forms(code: str) -> set[bytes]:
    """A secret code as typed (groups of 4 with spaces or dashes) and as 20 digits."""
    digits = re.sub(r"\D", "", code)
    groups = [digits[i:i + 4] for i in range(0, len(digits), 4)]
    return {digits.encode(), " ".join(groups).encode(), "-".join(groups).encode(), code.encode()}


def pg_dump(db_url: str) -> bytes:
    url = make_url(db_url)
    return subprocess.run(["pg_dump", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432),
                           "-U", url.username or "postgres", "--data-only", url.database],
                          check=True, capture_output=True, timeout=120).stdout


def database_bytes(db_url: str) -> bytes:
    """What someone who stole the database holds: a pg_dump, or the SQLite file (+ WAL)."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        from pathlib import Path

        path = Path(url.database)
        return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
    return pg_dump(db_url)


def leaks(haystacks: dict[str, bytes], secrets: dict[str, set[bytes]]) -> list[str]:
    """``where: which secret`` for every spelling found."""
    found = []
    for where, data in haystacks.items():
        for name, forms in secrets.items():
            if any(form in data for form in forms):
                found.append(f"{where}: {name}")
    return found
