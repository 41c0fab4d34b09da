"""Holder confirmation and SMS top-up: the account's district, the ``sms_gateway`` role, the ``sms``
redemption channel, replies addressed to a phone number, and the inbound messages seen (replays).

Revision ID: 0016_holder_sms
Revises: 0015_service_role_and_phone

``customer_accounts.district`` (nullable: accounts opened before have none;
the holder confirmation then shows no district) and
``outbox_messages.recipient`` (the sender's number of an SMS top-up reply;
NULL: the account's own number, as before) are new nullable columns: no
table rewrite. The two CHECK constraints accept one more value each, changed
as 0007_headend_role does (:mod:`vouchers.storage.migrations.check_in`). ``sms_inbound`` keeps one row per signed
gateway request accepted: a second request with the same signature or the
same message id of the same gateway is a replay.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import text

from vouchers.storage.migrations.check_in import replace_check_in

revision = "0016_holder_sms"
down_revision = "0015_service_role_and_phone"
branch_labels = None
depends_on = None

_ROLES_OLD = "('terminal', 'distributor', 'channel', 'finance', 'admin', 'headend', 'service')"
_ROLES_NEW = "('terminal', 'distributor', 'channel', 'finance', 'admin', 'headend', 'service', 'sms_gateway')"
_CHANNELS_OLD = "('terminal', 'web')"
_CHANNELS_NEW = "('terminal', 'web', 'sms')"


def upgrade() -> None:
    with op.batch_alter_table("customer_accounts") as batch:
        batch.add_column(sa.Column("district", sa.String(64), nullable=True))
    with op.batch_alter_table("outbox_messages") as batch:
        batch.add_column(sa.Column("recipient", sa.String(32), nullable=True))
    replace_check_in("api_clients", "role", "ck_api_clients_role", _ROLES_OLD, _ROLES_NEW)
    replace_check_in("redemptions", "channel", "ck_redemptions_channel", _CHANNELS_OLD, _CHANNELS_NEW)
    op.create_table(
        "sms_inbound",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("client_pk", sa.Integer, sa.ForeignKey("api_clients.id"), nullable=False),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("signature_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("client_pk", "message_id", name="uq_sms_inbound_message"),
        sa.UniqueConstraint("signature_hash", name="uq_sms_inbound_signature"),
    )
    op.create_index("ix_sms_inbound_received_at", "sms_inbound", ["received_at"])


def downgrade() -> None:
    for what, sql in (("sms_gateway API clients", "SELECT count(*) FROM api_clients WHERE role = 'sms_gateway'"),
                      ("sms redemptions", "SELECT count(*) FROM redemptions WHERE channel = 'sms'")):
        left = op.get_bind().execute(text(sql)).scalar_one()
        if left:
            raise RuntimeError(f"{left} {what} exist: delete them before downgrading")
    op.drop_index("ix_sms_inbound_received_at", "sms_inbound")
    op.drop_table("sms_inbound")
    replace_check_in("redemptions", "channel", "ck_redemptions_channel", _CHANNELS_NEW, _CHANNELS_OLD)
    replace_check_in("api_clients", "role", "ck_api_clients_role", _ROLES_NEW, _ROLES_OLD)
    with op.batch_alter_table("outbox_messages") as batch:
        batch.drop_column("recipient")
    # ALTER TABLE ... DROP COLUMN on both databases (SQLite 3.35+): a batch rebuild of customer_accounts would
    # drop the table that other tables' rows point at, which SQLite's foreign keys refuse
    op.drop_column("customer_accounts", "district")
