"""Redemption API: clients, idempotency records, redemptions, outbox, fraud alerts, throttle counters.

Revision ID: 0003_api
Revises: 0002_ledger
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_api"
down_revision = "0002_ledger"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "api_clients",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("client_id", sa.String(40), nullable=False, unique=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(32)),
        sa.Column("distributor_id", sa.String(64)),
        sa.Column("key_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("revoked", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", sa.String(100)),
        sa.Column("revoked_at", TS),
        sa.CheckConstraint("role IN ('terminal', 'distributor', 'channel', 'finance', 'admin')",
                           name="ck_api_clients_role"),
        sa.CheckConstraint("role <> 'channel' OR channel IS NOT NULL", name="ck_api_clients_channel"),
        sa.CheckConstraint("role <> 'distributor' OR distributor_id IS NOT NULL", name="ck_api_clients_distributor"),
    )
    op.create_table(
        "idempotency_records",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(64), nullable=False),
        sa.Column("client_pk", sa.Integer, sa.ForeignKey("api_clients.id")),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("response_body", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("scope", "key", name="uq_idempotency_records_scope_key"),
        sa.CheckConstraint("state IN ('in_flight', 'done')", name="ck_idempotency_records_state"),
    )
    op.create_index("ix_idempotency_records_created_at", "idempotency_records", ["created_at"])
    op.create_table(
        "redemptions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("redemption_id", sa.String(40), nullable=False, unique=True),
        sa.Column("voucher_id", BigId, sa.ForeignKey("vouchers.id"), nullable=False, unique=True),
        sa.Column("serial", sa.String(32), nullable=False),
        sa.Column("account_no", sa.String(32), nullable=False, index=True),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("applied_to_arrears", sa.BigInteger, nullable=False),
        sa.Column("credited_to_balance", sa.BigInteger, nullable=False),
        sa.Column("balance_after", sa.BigInteger, nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("client_pk", sa.Integer, sa.ForeignKey("api_clients.id")),
        sa.Column("ledger_transaction_id", sa.BigInteger),
        sa.Column("redeemed_at", TS, nullable=False),
        sa.CheckConstraint("amount > 0", name="ck_redemptions_amount"),
        sa.CheckConstraint("applied_to_arrears >= 0 AND credited_to_balance >= 0 "
                           "AND applied_to_arrears + credited_to_balance = amount", name="ck_redemptions_split"),
        sa.CheckConstraint("channel IN ('terminal', 'web')", name="ck_redemptions_channel"),
    )
    op.create_table(
        "outbox_messages",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("account_no", sa.String(32), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("sent_at", TS),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
    )
    op.create_index("ix_outbox_messages_unsent", "outbox_messages", ["sent_at", "id"])
    op.create_table(
        "fraud_alerts",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("at", TS, nullable=False, index=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("serial", sa.String(32), index=True),
        sa.Column("voucher_status", sa.String(16)),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("client_id", sa.String(40)),
        sa.Column("ip", sa.String(64)),
        sa.Column("account_no", sa.String(32)),
        sa.Column("details", sa.Text),
    )
    op.create_table(
        "throttle_counters",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("window_start", TS, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("updated_at", TS, nullable=False, index=True),
    )


def downgrade() -> None:
    op.drop_table("throttle_counters")
    op.drop_table("fraud_alerts")
    op.drop_index("ix_outbox_messages_unsent", table_name="outbox_messages")
    op.drop_table("outbox_messages")
    op.drop_table("redemptions")
    op.drop_index("ix_idempotency_records_created_at", table_name="idempotency_records")
    op.drop_table("idempotency_records")
    op.drop_table("api_clients")
