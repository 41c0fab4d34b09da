"""Two-person requests (maker-checker between different people): a payment reversal proposed, then confirmed.

Revision ID: 0021_console_back_requests
Revises: 0020_fraud_scan_index

One new table; nothing existing is touched. A partial unique index keeps one
pending request per action and subject.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021_console_back_requests"
down_revision = "0020_fraud_scan_index"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "approval_requests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("requested_at", TS, nullable=False),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("decided_at", TS, nullable=True),
        sa.Column("decision_reason", sa.Text, nullable=True),
        sa.Column("result", sa.String(64), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'approved', 'rejected')", name="ck_approval_requests_status"),
    )
    op.create_index("uq_approval_requests_pending", "approval_requests", ["kind", "subject_id"], unique=True,
                    postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))
    op.create_index("ix_approval_requests_status", "approval_requests", ["status"])


def downgrade() -> None:
    op.drop_index("ix_approval_requests_status", "approval_requests")
    op.drop_index("uq_approval_requests_pending", "approval_requests")
    op.drop_table("approval_requests")
