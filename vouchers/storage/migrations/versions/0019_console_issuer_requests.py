"""Staff requests: the console's batch requests for the issuer process and two-person proposals.

Revision ID: 0019_console_issuer_requests
Revises: 0018_fraud_rules

One new table; nothing existing is touched.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019_console_issuer_requests"
down_revision = "0018_fraud_rules"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
KINDS = ("batch_create", "batch_print", "batch_export", "batch_close", "batch_void", "key_revoke")
STATUSES = ("pending", "approved", "done", "rejected", "cancelled")


def upgrade() -> None:
    op.create_table(
        "staff_requests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=True),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("requested_at", TS, nullable=False),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("decided_at", TS, nullable=True),
        sa.Column("done_by", sa.String(64), nullable=True),
        sa.Column("done_at", TS, nullable=True),
        sa.Column("result", sa.Text, nullable=True),
        sa.CheckConstraint(f"kind IN {KINDS!r}", name="ck_staff_requests_kind"),
        sa.CheckConstraint(f"status IN {STATUSES!r}", name="ck_staff_requests_status"),
    )
    op.create_index("ix_staff_requests_status", "staff_requests", ["status"])


def downgrade() -> None:
    op.drop_index("ix_staff_requests_status", table_name="staff_requests")
    op.drop_table("staff_requests")
