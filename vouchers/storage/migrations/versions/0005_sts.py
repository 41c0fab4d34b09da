"""STS vending: keypad meters (with their TID record) and the vend log.

Revision ID: 0005_sts
Revises: 0004_metering
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_sts"
down_revision = "0004_metering"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sts_meters",
        sa.Column("pan", sa.String(18), primary_key=True),
        sa.Column("account_no", sa.String(32), sa.ForeignKey("metering_accounts.account_no"), nullable=False),
        sa.Column("sgc", sa.Integer, nullable=False),
        sa.Column("ti", sa.Integer, nullable=False),
        sa.Column("krn", sa.Integer, nullable=False),
        sa.Column("key_type", sa.Integer, nullable=False),
        sa.Column("ken", sa.Integer, nullable=False),
        sa.Column("base_date", sa.Integer, nullable=False),
        sa.Column("ea", sa.Integer, nullable=False, server_default="11"),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("last_tid", sa.Integer),
        sa.Column("last_tid_at", TS),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint("sgc >= 0 AND sgc <= 999999", name="ck_sts_meters_sgc"),
        sa.CheckConstraint("ti >= 0 AND ti <= 99", name="ck_sts_meters_ti"),
        sa.CheckConstraint("krn >= 1 AND krn <= 9", name="ck_sts_meters_krn"),
        sa.CheckConstraint("key_type >= 0 AND key_type <= 3", name="ck_sts_meters_key_type"),
        sa.CheckConstraint("ken >= 0 AND ken <= 255", name="ck_sts_meters_ken"),
        sa.CheckConstraint("base_date IN (1993, 2014, 2035)", name="ck_sts_meters_base_date"),
        sa.CheckConstraint("ea = 11", name="ck_sts_meters_ea"),
        sa.CheckConstraint("last_tid IS NULL OR (last_tid >= 0 AND last_tid <= 16777215)",
                           name="ck_sts_meters_tid"),
    )
    op.create_index("ix_sts_meters_account", "sts_meters", ["account_no", "active"])
    op.create_table(
        "sts_vends",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("pan", sa.String(18), sa.ForeignKey("sts_meters.pan"), nullable=False),
        sa.Column("account_no", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("token_class", sa.Integer, nullable=False),
        sa.Column("subclass", sa.Integer, nullable=False),
        sa.Column("tid", sa.Integer, nullable=False),
        sa.Column("token", sa.String(20), nullable=False),
        sa.Column("amount_minor", sa.BigInteger),
        sa.Column("units", sa.BigInteger),
        sa.Column("tariff_kwh", sa.String(40)),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("source_ref", sa.String(64)),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("reprints", sa.Integer, nullable=False, server_default="0"),
        sa.Column("vended_at", TS, nullable=False),
        sa.UniqueConstraint("pan", "tid", name="uq_sts_vends_pan_tid"),
        sa.UniqueConstraint("source", "source_ref", name="uq_sts_vends_source_ref"),
        sa.CheckConstraint("kind IN ('credit', 'clear_credit', 'clear_tamper', 'max_power')",
                           name="ck_sts_vends_kind"),
    )
    op.create_index("ix_sts_vends_pan", "sts_vends", ["pan", "id"])
    op.create_index("ix_sts_vends_account", "sts_vends", ["account_no", "id"])


def downgrade() -> None:
    op.drop_index("ix_sts_vends_account", table_name="sts_vends")
    op.drop_index("ix_sts_vends_pan", table_name="sts_vends")
    op.drop_table("sts_vends")
    op.drop_index("ix_sts_meters_account", table_name="sts_meters")
    op.drop_table("sts_meters")
