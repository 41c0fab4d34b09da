"""Holder confirmation and SMS top-up: the account's district, the ``sms_gateway`` role, the ``sms``
redemption channel, replies addressed to a phone number, and the inbound messages seen (replays).

Revision ID: 0016_holder_sms
Revises: 0015_service_role_and_phone

``customer_accounts.district`` (nullable: accounts opened before have none;
the holder confirmation then shows no district) and
``outbox_messages.recipient`` (the sender's number of an SMS top-up reply;
NULL: the account's own number, as before) are new nullable columns: no
table rewrite. The two CHECK constraints accept one more value each, changed
as 0007_headend_role does (PostgreSQL drops and re-creates them, SQLite edits
the stored definition in place). ``sms_inbound`` keeps one row per signed
gateway request accepted: a second request with the same signature or the
same message id of the same gateway is a replay.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import text

revision = "0016_holder_sms"
down_revision = "0015_service_role_and_phone"
branch_labels = None
depends_on = None

_ROLES_OLD = "('terminal', 'distributor', 'channel', 'finance', 'admin', 'headend', 'service')"
_ROLES_NEW = "('terminal', 'distributor', 'channel', 'finance', 'admin', 'headend', 'service', 'sms_gateway')"
_CHANNELS_OLD = "('terminal', 'web')"
_CHANNELS_NEW = "('terminal', 'web', 'sms')"


def _sqlite_replace(table: str, column: str, before: str, after: str) -> None:
    bind = op.get_bind()
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema=ON")
    try:
        changed = bind.execute(text(
            "UPDATE sqlite_master SET sql = replace(sql, :before, :after) "
            "WHERE type = 'table' AND name = :table AND instr(sql, :before) > 0"),
            {"before": f"CHECK ({column} IN {before})", "after": f"CHECK ({column} IN {after})",
             "table": table}).rowcount
        if changed != 1:
            raise RuntimeError(f"{table}: the {column} CHECK constraint is not the expected one; not changed")
        bind.exec_driver_sql(f"PRAGMA schema_version={int(version) + 1}")
    finally:
        bind.exec_driver_sql("PRAGMA writable_schema=OFF")


def _replace(table: str, column: str, name: str, before: str, after: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_replace(table, column, before, after)
        return
    op.drop_constraint(name, table, type_="check")
    op.create_check_constraint(name, table, f"{column} IN {after}")


def upgrade() -> None:
    with op.batch_alter_table("customer_accounts") as batch:
        batch.add_column(sa.Column("district", sa.String(64), nullable=True))
    with op.batch_alter_table("outbox_messages") as batch:
        batch.add_column(sa.Column("recipient", sa.String(32), nullable=True))
    _replace("api_clients", "role", "ck_api_clients_role", _ROLES_OLD, _ROLES_NEW)
    _replace("redemptions", "channel", "ck_redemptions_channel", _CHANNELS_OLD, _CHANNELS_NEW)
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


def _drop_customer_column(name: str) -> None:
    """SQLite: natively (3.35+). A batch copy would DROP TABLE customer_accounts, which rows of other tables
    reference: refused with foreign keys on (the downgrade runs in a transaction, where they cannot be
    switched off)."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"ALTER TABLE customer_accounts DROP COLUMN {name}")
        return
    with op.batch_alter_table("customer_accounts") as batch:
        batch.drop_column(name)


def downgrade() -> None:
    for what, sql in (("sms_gateway API clients", "SELECT count(*) FROM api_clients WHERE role = 'sms_gateway'"),
                      ("sms redemptions", "SELECT count(*) FROM redemptions WHERE channel = 'sms'")):
        left = op.get_bind().execute(text(sql)).scalar_one()
        if left:
            raise RuntimeError(f"{left} {what} exist: delete them before downgrading")
    op.drop_index("ix_sms_inbound_received_at", "sms_inbound")
    op.drop_table("sms_inbound")
    _replace("redemptions", "channel", "ck_redemptions_channel", _CHANNELS_NEW, _CHANNELS_OLD)
    _replace("api_clients", "role", "ck_api_clients_role", _ROLES_NEW, _ROLES_OLD)
    with op.batch_alter_table("outbox_messages") as batch:
        batch.drop_column("recipient")
    _drop_customer_column("district")
