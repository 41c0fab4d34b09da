"""Fraud rules: one alert model for every rule, cases, funds held for review, and the indexes the rules read.

Revision ID: 0018_fraud_rules
Revises: 0017_staff

``fraud_alerts`` gains the columns every rule shares (action, subject, amount, a
dedup key so the scheduled scan records an event once); ``fraud_cases`` groups
alerts per subject; ``fraud_holds`` is the subledger of ``liability:held_funds``.
Two indexes make the inline rules indexed lookups: payments per account and
time, redemptions per terminal and time. New columns are nullable: no rewrite.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018_fraud_rules"
down_revision = "0017_staff"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("fraud_alerts") as batch:
        batch.alter_column("channel", type_=sa.String(32), existing_type=sa.String(16), existing_nullable=False)
        batch.add_column(sa.Column("action", sa.String(8), nullable=True))
        batch.add_column(sa.Column("subject_type", sa.String(16), nullable=True))
        batch.add_column(sa.Column("subject_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("amount", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("distributor_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("ref", sa.String(64), nullable=True))
        batch.add_column(sa.Column("hold_id", sa.String(40), nullable=True))
        batch.add_column(sa.Column("case_id", sa.Integer, nullable=True))
        batch.add_column(sa.Column("dedup", sa.String(160), nullable=True))
    op.create_index("ix_fraud_alerts_case_id", "fraud_alerts", ["case_id"])
    op.create_index("ix_fraud_alerts_subject", "fraud_alerts", ["subject_type", "subject_id"])
    op.create_index("uq_fraud_alerts_dedup", "fraud_alerts", ["dedup"], unique=True)
    op.create_table(
        "fraud_cases",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("subject_type", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("opened_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("closed_at", TS, nullable=True),
        sa.Column("closed_by", sa.String(100), nullable=True),
        sa.Column("verdict", sa.String(8), nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.CheckConstraint("status IN ('open', 'closed')", name="ck_fraud_cases_status"),
    )
    op.create_index("uq_fraud_cases_open_subject", "fraud_cases", ["subject_type", "subject_id"], unique=True,
                    postgresql_where=sa.text("status = 'open'"), sqlite_where=sa.text("status = 'open'"))
    op.create_table(
        "fraud_holds",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("hold_id", sa.String(40), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("account_no", sa.String(32), nullable=False, index=True),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("voucher_id", sa.BigInteger, nullable=True, unique=True),
        sa.Column("serial", sa.String(32), nullable=True),
        sa.Column("payment_id", sa.BigInteger, nullable=True, unique=True),
        sa.Column("client_pk", sa.Integer, nullable=True),
        sa.Column("distributor_id", sa.String(64), nullable=True),
        sa.Column("rules", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False, index=True),
        sa.Column("transaction_id", sa.BigInteger, nullable=False),
        sa.Column("resolved_at", TS, nullable=True),
        sa.Column("resolved_by", sa.String(100), nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("resolution_transaction_id", sa.BigInteger, nullable=True),
        sa.CheckConstraint("status IN ('held', 'released', 'returned')", name="ck_fraud_holds_status"),
        sa.CheckConstraint("amount > 0", name="ck_fraud_holds_amount"),
    )
    op.create_index("ix_payments_customer_paid_at", "payments", ["customer_id", "paid_at"])
    op.create_index("ix_redemptions_client_at", "redemptions", ["client_pk", "redeemed_at"])
    op.create_index("ix_voucher_activations_activated_at", "voucher_activations", ["activated_at"])


def downgrade() -> None:
    op.drop_index("ix_voucher_activations_activated_at", table_name="voucher_activations")
    op.drop_index("ix_redemptions_client_at", table_name="redemptions")
    op.drop_index("ix_payments_customer_paid_at", table_name="payments")
    op.drop_table("fraud_holds")
    op.drop_table("fraud_cases")
    op.drop_index("uq_fraud_alerts_dedup", table_name="fraud_alerts")
    op.drop_index("ix_fraud_alerts_subject", table_name="fraud_alerts")
    op.drop_index("ix_fraud_alerts_case_id", table_name="fraud_alerts")
    with op.batch_alter_table("fraud_alerts") as batch:
        for name in ("dedup", "case_id", "hold_id", "ref", "distributor_id", "amount", "subject_id",
                     "subject_type", "action"):
            batch.drop_column(name)
        batch.alter_column("channel", type_=sa.String(16), existing_type=sa.String(32), existing_nullable=False)
