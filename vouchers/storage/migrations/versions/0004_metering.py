"""Billing side: tariff assignments, meters, readings, bills, late fees, cost control.

Revision ID: 0004_metering
Revises: 0003_api
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_metering"
down_revision = "0003_api"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "metering_accounts",
        sa.Column("account_no", sa.String(32), sa.ForeignKey("customer_accounts.account_no"), primary_key=True),
        sa.Column("tariff_id", sa.String(64), nullable=False),
        sa.Column("customer_class", sa.String(16), nullable=False),
        sa.Column("payment_mode", sa.String(16), nullable=False),
        sa.Column("low_income", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("time_of_use", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("large_customer", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("area", sa.String(64), nullable=False),
        sa.Column("meter_no", sa.String(64), nullable=False, unique=True),
        sa.Column("supply_start", sa.Date),
        sa.Column("supply_end", sa.Date),
        sa.Column("warning_threshold", sa.BigInteger),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint("customer_class IN ('residential', 'other')", name="ck_metering_accounts_class"),
        sa.CheckConstraint("payment_mode IN ('prepaid', 'postpaid')", name="ck_metering_accounts_mode"),
        sa.CheckConstraint("warning_threshold IS NULL OR warning_threshold >= 0",
                           name="ck_metering_accounts_threshold"),
        sa.CheckConstraint("supply_end IS NULL OR supply_start IS NULL OR supply_end >= supply_start",
                           name="ck_metering_accounts_supply"),
    )
    op.create_index("ix_metering_accounts_area", "metering_accounts", ["area"])
    op.create_index("ix_metering_accounts_mode", "metering_accounts", ["payment_mode", "account_no"])
    op.create_table(
        "meters",
        sa.Column("meter_no", sa.String(64), primary_key=True),
        sa.Column("account_no", sa.String(32), sa.ForeignKey("metering_accounts.account_no"), nullable=False),
        sa.Column("installed_on", sa.Date),
        sa.Column("removed_on", sa.Date),
    )
    op.create_index("ix_meters_account", "meters", ["account_no"])
    op.create_table(
        "reading_imports",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("file_sha256", sa.String(64), nullable=False, index=True),
        sa.Column("lines", sa.Integer, nullable=False),
        sa.Column("inserted", sa.Integer, nullable=False),
        sa.Column("duplicates", sa.Integer, nullable=False),
        sa.Column("imported_at", TS, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
    )
    op.create_table(
        "meter_readings",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("account_no", sa.String(32), sa.ForeignKey("metering_accounts.account_no"), nullable=False),
        sa.Column("meter_no", sa.String(64), nullable=False),
        sa.Column("reading_date", sa.Date, nullable=False),
        sa.Column("reading_ckwh", sa.BigInteger, nullable=False),
        sa.Column("peak_ckwh", sa.BigInteger),
        sa.Column("valley_ckwh", sa.BigInteger),
        sa.Column("kwh_ckwh", sa.BigInteger, nullable=False),
        sa.Column("peak_kwh_ckwh", sa.BigInteger),
        sa.Column("valley_kwh_ckwh", sa.BigInteger),
        sa.Column("replacement", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("import_id", sa.Integer, sa.ForeignKey("reading_imports.id")),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("meter_no", "reading_date", name="uq_meter_readings_meter_date"),
        sa.CheckConstraint("reading_ckwh >= 0 AND kwh_ckwh >= 0", name="ck_meter_readings_nonnegative"),
        sa.CheckConstraint("(peak_ckwh IS NULL) = (valley_ckwh IS NULL)", name="ck_meter_readings_tou_pair"),
    )
    op.create_index("ix_meter_readings_account_date", "meter_readings", ["account_no", "reading_date", "id"])
    op.create_table(
        "billing_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("accounts_billed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("zero_bills", sa.Integer, nullable=False, server_default="0"),
        sa.Column("skipped", sa.Integer, nullable=False, server_default="0"),
        sa.Column("total_fen", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("batches", sa.Integer, nullable=False, server_default="0"),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.CheckConstraint("status IN ('running', 'finished', 'failed')", name="ck_billing_runs_status"),
    )
    op.create_table(
        "billing_exceptions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("billing_runs.id"), nullable=False, index=True),
        sa.Column("account_no", sa.String(32), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
    )
    op.create_table(
        "metering_bills",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("account_no", sa.String(32), sa.ForeignKey("metering_accounts.account_no"), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("billing_runs.id")),
        sa.Column("tariff_id", sa.String(64), nullable=False),
        sa.Column("version_from", sa.Date, nullable=False),
        sa.Column("tariff_period_start", sa.Date, nullable=False),
        sa.Column("months_of_supply", sa.Integer, nullable=False),
        sa.Column("payment_mode", sa.String(16), nullable=False),
        sa.Column("customer_class", sa.String(16), nullable=False),
        sa.Column("opening_date", sa.Date),
        sa.Column("closing_date", sa.Date, nullable=False),
        sa.Column("kwh_ckwh", sa.BigInteger, nullable=False),
        sa.Column("peak_ckwh", sa.BigInteger),
        sa.Column("valley_ckwh", sa.BigInteger),
        sa.Column("used_before_ckwh", sa.BigInteger, nullable=False),
        sa.Column("period_kwh_ckwh", sa.BigInteger, nullable=False),
        sa.Column("lines", sa.Text, nullable=False),
        sa.Column("subtotal", sa.String(40), nullable=False),
        sa.Column("total_fen", sa.BigInteger, nullable=False),
        sa.Column("allowance_refund_fen", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("from_prepaid_fen", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("customer_bill_id", BigId, sa.ForeignKey("customer_bills.id"), unique=True),
        sa.Column("transaction_id", BigId, sa.ForeignKey("ledger_transactions.id")),
        sa.Column("due_date", sa.Date, nullable=False),
        sa.Column("issued_on", sa.Date, nullable=False),
        sa.Column("issued_at", TS, nullable=False),
        sa.UniqueConstraint("account_no", "period", name="uq_metering_bills_account_period"),
        sa.CheckConstraint("total_fen >= 0 AND from_prepaid_fen >= 0 AND from_prepaid_fen <= total_fen",
                           name="ck_metering_bills_amounts"),
        sa.CheckConstraint("kwh_ckwh >= 0 AND used_before_ckwh >= 0", name="ck_metering_bills_kwh"),
    )
    op.create_table(
        "late_fee_states",
        sa.Column("bill_id", BigId, sa.ForeignKey("customer_bills.id"), primary_key=True),
        sa.Column("account_no", sa.String(32), nullable=False, index=True),
        sa.Column("through_date", sa.Date, nullable=False),
        sa.Column("accrued", sa.String(40), nullable=False),
        sa.Column("charged_fen", sa.BigInteger, nullable=False),
        sa.Column("closed", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "late_fee_charges",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("account_no", sa.String(32), nullable=False, index=True),
        sa.Column("charged_on", sa.Date, nullable=False),
        sa.Column("fee_fen", sa.BigInteger, nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("penalty_bill_id", BigId, sa.ForeignKey("customer_bills.id"), nullable=False, unique=True),
        sa.Column("transaction_id", BigId, sa.ForeignKey("ledger_transactions.id"), nullable=False),
        sa.Column("charged_at", TS, nullable=False),
        sa.CheckConstraint("fee_fen > 0", name="ck_late_fee_charges_fee"),
        sa.CheckConstraint("trigger IN ('payment', 'month_end', 'manual')", name="ck_late_fee_charges_trigger"),
    )
    op.create_table(
        "cost_control_states",
        sa.Column("account_no", sa.String(32), sa.ForeignKey("metering_accounts.account_no"), primary_key=True),
        sa.Column("notice_state", sa.String(16), nullable=False),
        sa.Column("supply_state", sa.String(24), nullable=False),
        sa.Column("available_fen", sa.BigInteger, nullable=False),
        sa.Column("warned_at", TS),
        sa.Column("notice_at", TS),
        sa.Column("disconnect_due_at", TS),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint("notice_state IN ('ok', 'warned', 'notice')", name="ck_cost_control_states_notice"),
        sa.CheckConstraint("supply_state IN ('on', 'disconnect_ordered', 'off', 'reconnect_ordered')",
                           name="ck_cost_control_states_supply"),
    )
    op.create_table(
        "cost_control_orders",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("account_no", sa.String(32), sa.ForeignKey("metering_accounts.account_no"), nullable=False),
        sa.Column("meter_no", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("available_fen", sa.BigInteger, nullable=False),
        sa.Column("not_before", TS, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("acknowledged_at", TS),
        sa.Column("acknowledged_by", sa.String(100)),
        sa.Column("result_detail", sa.Text),
        sa.CheckConstraint("kind IN ('disconnect', 'reconnect')", name="ck_cost_control_orders_kind"),
        sa.CheckConstraint("status IN ('pending', 'done', 'failed', 'cancelled')",
                           name="ck_cost_control_orders_status"),
    )
    op.create_index("ix_cost_control_orders_status", "cost_control_orders", ["status", "id"])
    op.create_index("ix_cost_control_orders_account", "cost_control_orders", ["account_no", "id"])
    op.create_table(
        "metering_notifications",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("account_no", sa.String(32), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("sent_at", TS),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
    )
    op.create_index("ix_metering_notifications_unsent", "metering_notifications", ["sent_at", "id"])
    op.create_index("ix_metering_notifications_account", "metering_notifications", ["account_no", "id"])


def downgrade() -> None:
    op.drop_index("ix_metering_notifications_account", table_name="metering_notifications")
    op.drop_index("ix_metering_notifications_unsent", table_name="metering_notifications")
    op.drop_table("metering_notifications")
    op.drop_index("ix_cost_control_orders_account", table_name="cost_control_orders")
    op.drop_index("ix_cost_control_orders_status", table_name="cost_control_orders")
    op.drop_table("cost_control_orders")
    op.drop_table("cost_control_states")
    op.drop_table("late_fee_charges")
    op.drop_table("late_fee_states")
    op.drop_table("metering_bills")
    op.drop_table("billing_exceptions")
    op.drop_table("billing_runs")
    op.drop_index("ix_meter_readings_account_date", table_name="meter_readings")
    op.drop_table("meter_readings")
    op.drop_table("reading_imports")
    op.drop_index("ix_meters_account", table_name="meters")
    op.drop_table("meters")
    op.drop_index("ix_metering_accounts_mode", table_name="metering_accounts")
    op.drop_index("ix_metering_accounts_area", table_name="metering_accounts")
    op.drop_table("metering_accounts")
