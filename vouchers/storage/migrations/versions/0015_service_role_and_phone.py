"""API clients: the ``service`` role (customer service: account search, statements, payment lists);
customer accounts: an optional ``phone`` (customer service finds an account by it).

Revision ID: 0015_service_role_and_phone
Revises: 0014_consignments

The role CHECK constraint is widened as in 0007 (PostgreSQL re-creates it;
SQLite's stored definition is edited in place, the rows stay valid). The
phone column is nullable: no table rewrite on either database.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import text

revision = "0015_service_role_and_phone"
down_revision = "0014_consignments"
branch_labels = None
depends_on = None

_OLD = "('terminal', 'distributor', 'channel', 'finance', 'admin', 'headend')"
_NEW = "('terminal', 'distributor', 'channel', 'finance', 'admin', 'headend', 'service')"


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
    with op.batch_alter_table("customer_accounts") as batch:
        batch.add_column(sa.Column("phone", sa.String(32), nullable=True))
    op.create_index("ix_customer_accounts_phone", "customer_accounts", ["phone"])


def _drop_customer_column(name: str) -> None:
    """SQLite: natively (3.35+). A batch copy would DROP TABLE customer_accounts, which rows of other tables
    reference: refused with foreign keys on (the downgrade runs in a transaction, where they cannot be
    switched off)."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"ALTER TABLE customer_accounts DROP COLUMN {name}")
        return
    with op.batch_alter_table("customer_accounts") as batch:
        batch.drop_column(name)


def downgrade() -> None:
    op.drop_index("ix_customer_accounts_phone", "customer_accounts")
    _drop_customer_column("phone")
    left = op.get_bind().execute(text("SELECT count(*) FROM api_clients WHERE role = 'service'")).scalar_one()
    if left:
        raise RuntimeError(f"{left} service API clients exist: delete them before downgrading")
    _replace(_NEW, _OLD)
