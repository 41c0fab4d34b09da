"""STS key changes (history of a meter's key parameters) and the energy sale booked with a vend.

Revision ID: 0006_sts_keychange
Revises: 0005_sts
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_sts_keychange"
down_revision = "0005_sts"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("sts_vends", sa.Column("ledger_transaction_id", sa.BigInteger))
    columns = [sa.Column(f"{side}_{name}", sa.Integer, nullable=False)
               for side in ("old", "new") for name in ("sgc", "ti", "krn", "key_type", "ken", "base_date")]
    op.create_table(
        "sts_key_changes",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("pan", sa.String(18), sa.ForeignKey("sts_meters.pan"), nullable=False),
        sa.Column("account_no", sa.String(32), nullable=False),
        *columns,
        sa.Column("rollover", sa.Boolean, nullable=False),
        sa.Column("last_tid_before", sa.Integer),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("reprints", sa.Integer, nullable=False, server_default="0"),
        sa.Column("changed_at", TS, nullable=False),
    )
    op.create_index("ix_sts_key_changes_pan", "sts_key_changes", ["pan", "id"])


def downgrade() -> None:
    op.drop_index("ix_sts_key_changes_pan", table_name="sts_key_changes")
    op.drop_table("sts_key_changes")
    with op.batch_alter_table("sts_vends") as batch:
        batch.drop_column("ledger_transaction_id")
