"""The fraud scan's range read: an index leading with ``payments.paid_at`` on SQLite; staff and customer
contact details the rule ``insider.staff_match`` compares.

Revision ID: 0020_fraud_scan_index
Revises: 0019_console_issuer_requests

``voucherctl fraud scan`` reads the payments of a time range in ``paid_at``
order. PostgreSQL has had a BRIN index on ``paid_at`` since 0002; SQLite had
only ``(channel, paid_at)`` and ``(customer_id, paid_at)``, so it read the
whole table and sorted it. Both statements are idempotent (``IF NOT EXISTS``
/ ``IF EXISTS``): a database that already has the index (made by hand while
waiting for this migration) migrates without error.

``staff_accounts`` gains ``phone`` and ``address``, ``customer_accounts``
gains ``address`` (all nullable: no table rewrite).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020_fraud_scan_index"
down_revision = "0019_console_issuer_requests"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # the BRIN index of 0002 already serves the range read; make sure it is there
        op.create_index("ix_payments_paid_at_brin", "payments", ["paid_at"], postgresql_using="brin",
                        if_not_exists=True)
    else:
        op.create_index("ix_payments_paid_at", "payments", ["paid_at"], if_not_exists=True)
    op.add_column("staff_accounts", sa.Column("phone", sa.String(32), nullable=True))
    op.add_column("staff_accounts", sa.Column("address", sa.String(200), nullable=True))
    op.add_column("customer_accounts", sa.Column("address", sa.String(200), nullable=True))


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN on both databases (SQLite 3.35+): a batch rebuild of customer_accounts would
    # drop the table that other tables' rows point at, which SQLite's foreign keys refuse
    op.drop_column("customer_accounts", "address")
    op.drop_column("staff_accounts", "address")
    op.drop_column("staff_accounts", "phone")
    if op.get_bind().dialect.name != "postgresql":  # PostgreSQL's BRIN index belongs to 0002
        op.drop_index("ix_payments_paid_at", table_name="payments", if_exists=True)
