"""Tables of the billing side (``metering``): tariff assignments, meters,
readings, bills, late fees, cost control (费控) and its outbox.

Conventions, as in the rest of ``storage``:

- money is BigInteger minor units (fen);
- kWh is BigInteger **hundredths of a kWh** (``*_ckwh``): meter registers
  show 0.01 kWh, and an integer is exact on SQLite and PostgreSQL alike
  (SQLite has no exact decimal type);
- exact intermediate values that are not whole fen (a bill's unrounded
  subtotal, a late fee's daily accrual) are stored as decimal text;
- every timestamp column is :class:`vouchers.storage.types.UTCDateTime`; business
  dates (reading day, due date) are plain local ``Date`` columns.

The customer account itself (户号, balances, bills) belongs to the books
(:mod:`vouchers.storage.ledger_models`); these tables only refer to it by
``account_no`` or by bill id.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from vouchers.storage.db import Base
from vouchers.storage.types import UTCDateTime

BigId = BigInteger().with_variant(Integer(), "sqlite")  # SQLite rowid aliasing needs INTEGER

CUSTOMER_CLASSES = ("residential", "other")
PAYMENT_MODES = ("prepaid", "postpaid")
BILLING_RUN_STATUSES = ("running", "finished", "failed")
SUPPLY_STATES = ("on", "disconnect_ordered", "off", "reconnect_ordered")
NOTICE_STATES = ("ok", "warned", "notice")
ORDER_KINDS = ("disconnect", "reconnect")
ORDER_STATUSES = ("pending", "done", "failed", "cancelled")
LATE_FEE_TRIGGERS = ("payment", "month_end", "manual")


class MeteringAccount(Base):
    """How one customer account (户号) is billed: its tariff and options."""

    __tablename__ = "metering_accounts"
    account_no: Mapped[str] = mapped_column(String(32), ForeignKey("customer_accounts.account_no"),
                                            primary_key=True)
    tariff_id: Mapped[str] = mapped_column(String(64))
    customer_class: Mapped[str] = mapped_column(String(16))
    payment_mode: Mapped[str] = mapped_column(String(16))
    low_income: Mapped[bool] = mapped_column(Boolean, default=False)
    time_of_use: Mapped[bool] = mapped_column(Boolean, default=False)
    large_customer: Mapped[bool] = mapped_column(Boolean, default=False)
    area: Mapped[str] = mapped_column(String(64))
    meter_no: Mapped[str] = mapped_column(String(64), unique=True)  # the meter installed now
    supply_start: Mapped[dt.date | None] = mapped_column(Date)  # part-year accounts
    supply_end: Mapped[dt.date | None] = mapped_column(Date)
    warning_threshold: Mapped[int | None] = mapped_column(BigInteger)  # fen; None = configured default
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    __table_args__ = (
        CheckConstraint(f"customer_class IN {CUSTOMER_CLASSES!r}", name="ck_metering_accounts_class"),
        CheckConstraint(f"payment_mode IN {PAYMENT_MODES!r}", name="ck_metering_accounts_mode"),
        CheckConstraint("warning_threshold IS NULL OR warning_threshold >= 0",
                        name="ck_metering_accounts_threshold"),
        CheckConstraint("supply_end IS NULL OR supply_start IS NULL OR supply_end >= supply_start",
                        name="ck_metering_accounts_supply"),
        Index("ix_metering_accounts_area", "area"),
        Index("ix_metering_accounts_mode", "payment_mode", "account_no"),
    )


class Meter(Base):
    """Every meter ever installed for an account; ``removed_on`` is set on replacement."""

    __tablename__ = "meters"
    meter_no: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_no: Mapped[str] = mapped_column(String(32), ForeignKey("metering_accounts.account_no"))
    installed_on: Mapped[dt.date | None] = mapped_column(Date)
    removed_on: Mapped[dt.date | None] = mapped_column(Date)
    __table_args__ = (Index("ix_meters_account", "account_no"),)


class ReadingImport(Base):
    """One imported readings file (all or nothing)."""

    __tablename__ = "reading_imports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    file_name: Mapped[str] = mapped_column(String(255))
    file_sha256: Mapped[str] = mapped_column(String(64), index=True)
    lines: Mapped[int] = mapped_column(Integer)
    inserted: Mapped[int] = mapped_column(Integer)
    duplicates: Mapped[int] = mapped_column(Integer)
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(100))


class MeterReading(Base):
    """One register reading. ``kwh_ckwh`` is the consumption since the account's
    previous reading (0 for the first reading and for a meter replacement)."""

    __tablename__ = "meter_readings"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account_no: Mapped[str] = mapped_column(String(32), ForeignKey("metering_accounts.account_no"))
    meter_no: Mapped[str] = mapped_column(String(64))
    reading_date: Mapped[dt.date] = mapped_column(Date)
    reading_ckwh: Mapped[int] = mapped_column(BigInteger)
    peak_ckwh: Mapped[int | None] = mapped_column(BigInteger)  # peak register, if the meter has one
    valley_ckwh: Mapped[int | None] = mapped_column(BigInteger)
    kwh_ckwh: Mapped[int] = mapped_column(BigInteger)
    peak_kwh_ckwh: Mapped[int | None] = mapped_column(BigInteger)
    valley_kwh_ckwh: Mapped[int | None] = mapped_column(BigInteger)
    replacement: Mapped[bool] = mapped_column(Boolean, default=False)
    import_id: Mapped[int | None] = mapped_column(ForeignKey("reading_imports.id"))
    source: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    __table_args__ = (
        UniqueConstraint("meter_no", "reading_date", name="uq_meter_readings_meter_date"),
        CheckConstraint("reading_ckwh >= 0 AND kwh_ckwh >= 0", name="ck_meter_readings_nonnegative"),
        CheckConstraint("(peak_ckwh IS NULL) = (valley_ckwh IS NULL)", name="ck_meter_readings_tou_pair"),
        Index("ix_meter_readings_account_date", "account_no", "reading_date", "id"),
    )


class BillingRun(Base):
    """One billing run of a period; its batches are separate database transactions."""

    __tablename__ = "billing_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    period: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    as_of: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))
    accounts_billed: Mapped[int] = mapped_column(Integer, default=0)
    zero_bills: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    total_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    batches: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(100))
    __table_args__ = (CheckConstraint(f"status IN {BILLING_RUN_STATUSES!r}", name="ck_billing_runs_status"),)


class BillingException(Base):
    """An account a billing run could not bill, and why (nothing was posted for it)."""

    __tablename__ = "billing_exceptions"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("billing_runs.id"), index=True)
    account_no: Mapped[str] = mapped_column(String(32))
    code: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)


class MeteringBill(Base):
    """One electricity bill of one account for one period (the billing detail).

    ``total_fen`` = ``from_prepaid_fen`` (taken from the prepaid balance when
    the bill was issued) + the amount of the ledger bill ``customer_bill_id``
    (the rest, owed as arrears until paid); a bill fully paid from the
    prepaid balance has no ledger bill. ``lines`` is JSON with exact decimals.
    """

    __tablename__ = "metering_bills"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account_no: Mapped[str] = mapped_column(String(32), ForeignKey("metering_accounts.account_no"))
    period: Mapped[str] = mapped_column(String(7))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("billing_runs.id"))
    tariff_id: Mapped[str] = mapped_column(String(64))
    version_from: Mapped[dt.date] = mapped_column(Date)  # version of the closing reading
    tariff_period_start: Mapped[dt.date] = mapped_column(Date)
    months_of_supply: Mapped[int] = mapped_column(Integer)
    payment_mode: Mapped[str] = mapped_column(String(16))
    customer_class: Mapped[str] = mapped_column(String(16))
    opening_date: Mapped[dt.date | None] = mapped_column(Date)  # last reading billed before
    closing_date: Mapped[dt.date] = mapped_column(Date)
    kwh_ckwh: Mapped[int] = mapped_column(BigInteger)
    peak_ckwh: Mapped[int | None] = mapped_column(BigInteger)
    valley_ckwh: Mapped[int | None] = mapped_column(BigInteger)
    used_before_ckwh: Mapped[int] = mapped_column(BigInteger)  # position in the tariff period before
    period_kwh_ckwh: Mapped[int] = mapped_column(BigInteger)  # kWh counted in tariff_period_start's period
    lines: Mapped[str] = mapped_column(Text)
    subtotal: Mapped[str] = mapped_column(String(40))
    total_fen: Mapped[int] = mapped_column(BigInteger)
    allowance_refund_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    from_prepaid_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    customer_bill_id: Mapped[int | None] = mapped_column(ForeignKey("customer_bills.id"), unique=True)
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transactions.id"))
    due_date: Mapped[dt.date] = mapped_column(Date)
    issued_on: Mapped[dt.date] = mapped_column(Date)
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    __table_args__ = (
        UniqueConstraint("account_no", "period", name="uq_metering_bills_account_period"),
        CheckConstraint("total_fen >= 0 AND from_prepaid_fen >= 0 AND from_prepaid_fen <= total_fen",
                        name="ck_metering_bills_amounts"),
        CheckConstraint("kwh_ckwh >= 0 AND used_before_ckwh >= 0", name="ck_metering_bills_kwh"),
        # deliberately no index on period alone: the (account_no, period) key serves every lookup, and a
        # billing run's own inserts would make the statistics of a period index stale mid-run
    )


class LateFeeState(Base):
    """How far the late fee (电费违约金) of one overdue bill has been accrued and charged."""

    __tablename__ = "late_fee_states"
    bill_id: Mapped[int] = mapped_column(ForeignKey("customer_bills.id"), primary_key=True)
    account_no: Mapped[str] = mapped_column(String(32), index=True)
    through_date: Mapped[dt.date] = mapped_column(Date)  # last day accrued
    accrued: Mapped[str] = mapped_column(String(40))  # exact yuan, all days so far
    charged_fen: Mapped[int] = mapped_column(BigInteger)
    closed: Mapped[bool] = mapped_column(Boolean, default=False)  # paid and accrued to the payment day


class LateFeeCharge(Base):
    """One late fee posted for one account on one day (a penalty bill in the books)."""

    __tablename__ = "late_fee_charges"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account_no: Mapped[str] = mapped_column(String(32), index=True)
    charged_on: Mapped[dt.date] = mapped_column(Date)
    fee_fen: Mapped[int] = mapped_column(BigInteger)
    details: Mapped[str] = mapped_column(Text)  # JSON per bill: from, to, accrued, fee
    trigger: Mapped[str] = mapped_column(String(16))
    penalty_bill_id: Mapped[int] = mapped_column(ForeignKey("customer_bills.id"), unique=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.id"))
    charged_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    __table_args__ = (
        CheckConstraint("fee_fen > 0", name="ck_late_fee_charges_fee"),
        CheckConstraint(f"trigger IN {LATE_FEE_TRIGGERS!r}", name="ck_late_fee_charges_trigger"),
    )


class CostControlState(Base):
    """Remote cost control (费控) of one prepaid account: what was notified, what the supply is."""

    __tablename__ = "cost_control_states"
    account_no: Mapped[str] = mapped_column(String(32), ForeignKey("metering_accounts.account_no"),
                                            primary_key=True)
    notice_state: Mapped[str] = mapped_column(String(16))
    supply_state: Mapped[str] = mapped_column(String(24))
    available_fen: Mapped[int] = mapped_column(BigInteger)  # as last evaluated
    warned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    notice_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    disconnect_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    __table_args__ = (
        CheckConstraint(f"notice_state IN {NOTICE_STATES!r}", name="ck_cost_control_states_notice"),
        CheckConstraint(f"supply_state IN {SUPPLY_STATES!r}", name="ck_cost_control_states_supply"),
    )


class CostControlOrder(Base):
    """A disconnect or reconnect order for the metering head-end to execute and acknowledge."""

    __tablename__ = "cost_control_orders"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account_no: Mapped[str] = mapped_column(String(32), ForeignKey("metering_accounts.account_no"))
    meter_no: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    available_fen: Mapped[int] = mapped_column(BigInteger)
    not_before: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by: Mapped[str | None] = mapped_column(String(100))
    result_detail: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (
        CheckConstraint(f"kind IN {ORDER_KINDS!r}", name="ck_cost_control_orders_kind"),
        CheckConstraint(f"status IN {ORDER_STATUSES!r}", name="ck_cost_control_orders_status"),
        Index("ix_cost_control_orders_status", "status", "id"),
        Index("ix_cost_control_orders_account", "account_no", "id"),
    )


class MeteringNotification(Base):
    """Outbox of customer notifications (SMS) from billing and cost control.

    Same shape as the API's ``outbox_messages``: written in the business
    transaction, sent after commit by a sender that sets ``sent_at``.
    """

    __tablename__ = "metering_notifications"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    account_no: Mapped[str] = mapped_column(String(32))
    payload: Mapped[str] = mapped_column(Text)  # JSON
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())  # backoff or a sender's lease
    dead_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())  # gave up after max attempts
    __table_args__ = (Index("ix_metering_notifications_unsent", "sent_at", "id"),
                      Index("ix_metering_notifications_account", "account_no", "id"))
