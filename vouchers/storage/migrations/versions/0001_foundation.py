"""Foundation: batches, vouchers, audit events, print jobs.

Revision ID: 0001_foundation
Revises:
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_foundation"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("batch_id", sa.String(20), nullable=False, unique=True),
        sa.Column("issuer_code", sa.Integer, nullable=False),
        sa.Column("face_value", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("expires", sa.Date, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("first_serial", sa.String(32), nullable=False),
        sa.Column("last_serial", sa.String(32), nullable=False),
        sa.Column("card_data_sha256", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("approved_by", sa.String(100)),
        sa.Column("approved_at", TS),
        sa.Column("void_reason", sa.Text),
        sa.CheckConstraint("face_value > 0", name="ck_batches_face_positive"),
        sa.CheckConstraint("count > 0", name="ck_batches_count_positive"),
        sa.CheckConstraint(
            "status IN ('draft', 'approved', 'printed', 'shipped', 'closed', 'void')", name="ck_batches_status"
        ),
    )
    op.create_table(
        "vouchers",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("serial", sa.String(32), nullable=False, unique=True),
        sa.Column("batch_pk", sa.Integer, sa.ForeignKey("batches.id"), nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("code_hash", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("face_value", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("expires", sa.Date, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("distributor_id", sa.String(64)),
        sa.Column("activated_at", TS),
        sa.Column("redeemed_at", TS),
        sa.Column("updated_at", TS),
        sa.CheckConstraint("face_value > 0", name="ck_vouchers_face_positive"),
        sa.CheckConstraint(
            "status IN ('inactive', 'active', 'redeemed', 'expired', 'void')", name="ck_vouchers_status"
        ),
        sa.UniqueConstraint("batch_pk", "sequence", name="uq_vouchers_batch_sequence"),
    )
    op.create_index("ix_vouchers_status_expires", "vouchers", ["status", "expires"])
    op.create_table(
        "audit_events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject_type", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False, index=True),
        sa.Column("from_state", sa.String(32)),
        sa.Column("to_state", sa.String(32)),
        sa.Column("reason", sa.Text),
        sa.Column("details", sa.Text),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
    )
    op.create_table(
        "print_jobs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("batch_pk", sa.Integer, sa.ForeignKey("batches.id"), nullable=False, index=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("operator", sa.String(100), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("card_count", sa.Integer, nullable=False),
        sa.Column("files", sa.Text, nullable=False),
        sa.Column("layout", sa.String(64)),
        sa.Column("reprint_reason", sa.Text),
    )


def downgrade() -> None:
    op.drop_table("print_jobs")
    op.drop_table("audit_events")
    op.drop_index("ix_vouchers_status_expires", table_name="vouchers")
    op.drop_table("vouchers")
    op.drop_table("batches")
