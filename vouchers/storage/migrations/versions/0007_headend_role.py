"""API clients: the ``headend`` role (a metering head-end posts readings and acknowledges orders).

Revision ID: 0007_headend_role
Revises: 0006_sts_keychange

Only the CHECK constraint's list of roles changes. PostgreSQL drops and
re-creates it. SQLite cannot alter a constraint, and rebuilding
``api_clients`` is impossible while other tables' rows reference it (the
implicit DELETE of DROP TABLE fails their foreign keys), so the stored
table definition is edited in place with ``PRAGMA writable_schema`` - the
procedure SQLite documents for changes that leave the stored rows valid
(here: a constraint that accepts one more value).
"""
from __future__ import annotations

from alembic import op
from sqlalchemy import text

revision = "0007_headend_role"
down_revision = "0006_sts_keychange"
branch_labels = None
depends_on = None

_OLD = "('terminal', 'distributor', 'channel', 'finance', 'admin')"
_NEW = "('terminal', 'distributor', 'channel', 'finance', 'admin', 'headend')"


def _sqlite_replace(before: str, after: str) -> None:
    bind = op.get_bind()
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema=ON")
    try:
        changed = bind.execute(text(
            "UPDATE sqlite_master SET sql = replace(sql, :before, :after) "
            "WHERE type = 'table' AND name = 'api_clients' AND instr(sql, :before) > 0"),
            {"before": f"CHECK (role IN {before})", "after": f"CHECK (role IN {after})"}).rowcount
        if changed != 1:
            raise RuntimeError("api_clients: the role CHECK constraint is not the expected one; not changed")
        bind.exec_driver_sql(f"PRAGMA schema_version={int(version) + 1}")
    finally:
        bind.exec_driver_sql("PRAGMA writable_schema=OFF")


def _replace(before: str, after: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_replace(before, after)
        return
    op.drop_constraint("ck_api_clients_role", "api_clients", type_="check")
    op.create_check_constraint("ck_api_clients_role", "api_clients", f"role IN {after}")


def upgrade() -> None:
    _replace(_OLD, _NEW)


def downgrade() -> None:
    left = op.get_bind().execute(text("SELECT count(*) FROM api_clients WHERE role = 'headend'")).scalar_one()
    if left:
        raise RuntimeError(f"{left} headend API clients exist: delete them before downgrading")
    _replace(_NEW, _OLD)
