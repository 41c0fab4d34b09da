"""API clients: the ``service`` role (customer service: account search, statements, payment lists);
customer accounts: an optional ``phone`` (customer service finds an account by it).

Revision ID: 0015_service_role_and_phone
Revises: 0014_consignments

The role CHECK constraint is widened as in 0007 (:mod:`vouchers.storage.migrations.check_in`). The
phone column is nullable: no table rewrite on either database.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import text

from vouchers.storage.migrations.check_in import replace_check_in

revision = "0015_service_role_and_phone"
down_revision = "0014_consignments"
branch_labels = None
depends_on = None

_OLD = "('terminal', 'distributor', 'channel', 'finance', 'admin', 'headend')"
_NEW = "('terminal', 'distributor', 'channel', 'finance', 'admin', 'headend', 'service')"


def upgrade() -> None:
    replace_check_in("api_clients", "role", "ck_api_clients_role", _OLD, _NEW)
    with op.batch_alter_table("customer_accounts") as batch:
        batch.add_column(sa.Column("phone", sa.String(32), nullable=True))
    op.create_index("ix_customer_accounts_phone", "customer_accounts", ["phone"])


def downgrade() -> None:
    op.drop_index("ix_customer_accounts_phone", "customer_accounts")
    # ALTER TABLE ... DROP COLUMN on both databases (SQLite 3.35+): a batch rebuild of customer_accounts would
    # drop the table that other tables' rows point at, which SQLite's foreign keys refuse
    op.drop_column("customer_accounts", "phone")
    left = op.get_bind().execute(text("SELECT count(*) FROM api_clients WHERE role = 'service'")).scalar_one()
    if left:
        raise RuntimeError(f"{left} service API clients exist: delete them before downgrading")
    replace_check_in("api_clients", "role", "ck_api_clients_role", _NEW, _OLD)
