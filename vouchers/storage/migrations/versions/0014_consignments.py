"""Consignments: stock shipped to a distributor, which only that distributor may activate.

Revision ID: 0014_consignments
Revises: 0013_bill_refs_by_range

``vouchers.consigned_to`` names the distributor whose stock a card is (set by
``voucherctl batch consign`` when stock is shipped, or by an operator's
activation); ``consignments`` keeps each shipment (a serial range of one batch).
Cards activated before this revision are their seller's stock. The new column
is nullable: no table rewrite on either database, only the activated cards'
rows are updated.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_consignments"
down_revision = "0013_bill_refs_by_range"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("vouchers") as batch:
        batch.add_column(sa.Column("consigned_to", sa.String(64), nullable=True))
    op.execute(sa.text("UPDATE vouchers SET consigned_to = distributor_id WHERE distributor_id IS NOT NULL"))
    op.create_table(
        "consignments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("batch_pk", sa.Integer, sa.ForeignKey("batches.id"), nullable=False, index=True),
        sa.Column("distributor_pk", sa.Integer, sa.ForeignKey("distributors.id"), nullable=False, index=True),
        sa.Column("first_sequence", sa.Integer, nullable=False),
        sa.Column("last_sequence", sa.Integer, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("moved", sa.Integer, nullable=False),
        sa.Column("consigned_at", TS, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.CheckConstraint("count > 0", name="ck_consignments_count"),
        sa.CheckConstraint("moved >= 0 AND moved <= count", name="ck_consignments_moved"),
    )


def downgrade() -> None:
    op.drop_table("consignments")
    with op.batch_alter_table("vouchers") as batch:
        batch.drop_column("consigned_to")
