"""Staff accounts and sessions (the console, and maker-checker bound to people).

Revision ID: 0017_staff
Revises: 0016_holder_sms

Two new tables; nothing existing is touched.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017_staff"
down_revision = "0016_holder_sms"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "staff_accounts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("roles", sa.String(200), nullable=False),
        sa.Column("distributor_id", sa.String(64), nullable=True),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("totp_sealed", sa.LargeBinary(200), nullable=False),
        sa.Column("totp_last_step", sa.BigInteger, nullable=True),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("disabled_at", TS, nullable=True),
        sa.Column("reset_requested_by", sa.String(64), nullable=True),
        sa.Column("reset_requested_at", TS, nullable=True),
    )
    op.create_table(
        "staff_sessions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.String(40), nullable=False, unique=True),
        sa.Column("token_hash", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("staff_pk", sa.Integer, sa.ForeignKey("staff_accounts.id"), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_seen_at", TS, nullable=False),
        sa.Column("ended_at", TS, nullable=True),
        sa.CheckConstraint("kind IN ('web', 'cli')", name="ck_staff_sessions_kind"),
    )
    op.create_index("ix_staff_sessions_staff_pk", "staff_sessions", ["staff_pk"])


def downgrade() -> None:
    op.drop_index("ix_staff_sessions_staff_pk", "staff_sessions")
    op.drop_table("staff_sessions")
    op.drop_table("staff_accounts")
