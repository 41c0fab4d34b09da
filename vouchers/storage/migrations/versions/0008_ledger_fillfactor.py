"""Room on ``ledger_accounts`` pages for balance updates (PostgreSQL ``fillfactor``).

Revision ID: 0008_ledger_fillfactor
Revises: 0007_headend_role

Every posting moves a stored balance: an UPDATE of a ``ledger_accounts``
row. ``balance`` is in no index, so PostgreSQL can write the new row
version on the same page without touching the table's three indexes (a
"HOT" update), but only if the page has room for it; a page filled to 100%
(the default) sends every new version to another page, with a new entry in
each index. A billing batch updates about 70% of its customers' rows at
once (the old versions are still live until it commits), so the pages keep
40% free: 60% fill. Rows written from now on (and pages rewritten by
VACUUM FULL / CLUSTER) follow it; existing pages are not rewritten here.
SQLite has no such setting: nothing to do.
"""
from __future__ import annotations

from alembic import op

revision = "0008_ledger_fillfactor"
down_revision = "0007_headend_role"
branch_labels = None
depends_on = None

FILLFACTOR = 60


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE ledger_accounts SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE ledger_accounts RESET (fillfactor)")
