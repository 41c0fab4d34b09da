"""Which schema revision a database is at, and which one this code expects, without loading Alembic.

Every CLI command and every API worker checks this before it touches the
database; Alembic and the migration scripts (about half a second of imports)
are only needed to *change* the schema (:mod:`vouchers.storage.migrate`).

The migrations are linear and each file is named after its revision id with
a zero-padded sequence number first (``0013_bill_refs_by_range.py`` holds
revision ``0013_bill_refs_by_range``), so the head is the last name in sort
order; a test checks that against Alembic's own view of the scripts.
"""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, inspect, text

VERSIONS = Path(__file__).parent / "migrations" / "versions"
VERSION_TABLE = "alembic_version"  # Alembic's default, which storage.migrate keeps


def known_revisions() -> list[str]:
    """Every revision of the migration scripts, oldest first."""
    return sorted(p.stem for p in VERSIONS.glob("[0-9]*.py"))


def head_revision() -> str:
    """The newest revision among the migration scripts."""
    names = known_revisions()
    return names[-1] if names else ""


def is_newer_than_code(revision: str) -> bool:
    """True if ``revision`` is none of this code's and numbered after its head: a newer release wrote it."""
    sequence, _, _ = revision.partition("_")
    head_sequence = head_revision().partition("_")[0]
    return (revision not in known_revisions() and sequence.isdigit() and head_sequence.isdigit()
            and int(sequence) > int(head_sequence))


def current_revision(engine: Engine) -> str | None:
    """The database's revision; None when it was never initialised."""
    with engine.connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            return None
        rows = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    return ",".join(sorted(rows)) or None  # several rows only in a branched history (ours is linear)
