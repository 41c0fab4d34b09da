"""Tables of the books: accounts, journal transactions, postings, customers,
bills, distributors, activations, payments, imports and reconciliation runs.

Money is BigInteger minor units (fen). Time columns store UTC; on SQLite,
which keeps no offset, :class:`UtcDateTime` converts on the way in and out.

The migration (0002_ledger) is authoritative. On PostgreSQL the references of
the two high-volume tables (``ledger_postings``, ``payments``) are checked by
statement-level triggers instead of the per-row foreign keys declared here
(declared for joins and for SQLite, where they are real foreign keys).
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    FetchedValue,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    column,
    table,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from vouchers.storage.db import Base

BigId = BigInteger().with_variant(Integer(), "sqlite")  # SQLite rowid aliasing needs INTEGER

ACCOUNT_KINDS = ("asset", "liability", "income", "expense")
PAYMENT_STATUSES = ("booked", "reversed")


class UtcDateTime(TypeDecorator[dt.datetime]):
    """An aware datetime stored as UTC; naive values are refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):  # type: ignore[no-untyped-def]
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware datetime (UTC or a zone)")
        return value.astimezone(dt.timezone.utc)

    def process_result_value(self, value, dialect):  # type: ignore[no-untyped-def]
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)


TS = UtcDateTime


class LedgerAccount(Base):
    """One account of the chart, per currency. ``balance`` = debits - credits."""

    __tablename__ = "ledger_accounts"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(120))
    currency: Mapped[str] = mapped_column(String(3))
    kind: Mapped[str] = mapped_column(String(16))
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(TS)
    __table_args__ = (
        UniqueConstraint("code", "currency", name="uq_ledger_accounts_code_currency"),
        UniqueConstraint("id", "currency", name="uq_ledger_accounts_id_currency"),
        CheckConstraint(f"kind IN {ACCOUNT_KINDS!r}", name="ck_ledger_accounts_kind"),
    )


class LedgerTransaction(Base):
    """A journal transaction: immutable; corrected only by a reversing one."""

    __tablename__ = "ledger_transactions"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(64))
    external_ref: Mapped[str] = mapped_column(String(160))
    occurred_at: Mapped[dt.datetime] = mapped_column(TS)
    posted_at: Mapped[dt.datetime] = mapped_column(TS)
    actor: Mapped[str | None] = mapped_column(String(100))
    memo: Mapped[str | None] = mapped_column(Text)
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transactions.id"))
    # PostgreSQL fills this with txid_current() (server default) so its triggers
    # can tell the transactions written by the current database transaction.
    db_txid: Mapped[int | None] = mapped_column(BigInteger, server_default=FetchedValue())
    __table_args__ = (
        UniqueConstraint("source", "external_ref", name="uq_ledger_transactions_source_ref"),
        # at most one full reversal per transaction (payment reversals are unique per payment instead)
        Index("uq_ledger_transactions_reverses", "reverses_id", unique=True,
              postgresql_where=text("kind = 'reversal'"), sqlite_where=text("kind = 'reversal'")),
    )


class LedgerPosting(Base):
    """One leg of a transaction: positive = debit, negative = credit."""

    __tablename__ = "ledger_postings"
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.id"), primary_key=True)
    line: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigId)
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = (
        ForeignKeyConstraint(["account_id", "currency"], ["ledger_accounts.id", "ledger_accounts.currency"],
                             name="fk_ledger_postings_account_currency"),
        CheckConstraint("amount <> 0", name="ck_ledger_postings_nonzero"),
        Index("ix_ledger_postings_account", "account_id"),
    )


class CustomerAccount(Base):
    """An electricity account (户号). Money lives in its two ledger accounts."""

    __tablename__ = "customer_accounts"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account_no: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    meter_no: Mapped[str | None] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(String(32), index=True)  # digits (and a leading +), 0015
    district: Mapped[str | None] = mapped_column(String(64))  # of the address; shown masked to confirm the holder
    address: Mapped[str | None] = mapped_column(String(200))  # 0019: normalised (normalise_address); fraud rules
    currency: Mapped[str] = mapped_column(String(3))
    arrears_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))
    prepaid_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))
    created_at: Mapped[dt.datetime] = mapped_column(TS)


class CustomerBill(Base):
    """An electricity bill; ``outstanding`` is what arrears still owe on it."""

    __tablename__ = "customer_bills"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer_accounts.id"))
    bill_ref: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column(BigInteger)
    outstanding: Mapped[int] = mapped_column(BigInteger)
    due_date: Mapped[dt.date] = mapped_column(Date)
    issued_at: Mapped[dt.datetime] = mapped_column(TS)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.id"))
    __table_args__ = (
        UniqueConstraint("customer_id", "bill_ref", name="uq_customer_bills_ref"),
        CheckConstraint("amount > 0", name="ck_customer_bills_amount"),
        CheckConstraint("outstanding >= 0 AND outstanding <= amount", name="ck_customer_bills_outstanding"),
        Index("ix_customer_bills_open", "customer_id", "due_date", "id"),
    )


class BillAllocation(Base):
    """Money applied to one bill by a transaction (and payment); negative when reversed."""

    __tablename__ = "bill_allocations"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.id"), index=True)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"), index=True)
    bill_id: Mapped[int] = mapped_column(ForeignKey("customer_bills.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = (CheckConstraint("amount <> 0", name="ck_bill_allocations_nonzero"),)


class Distributor(Base):
    """A seller of cards; ``commission_bp`` in basis points of face value."""

    __tablename__ = "distributors"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    distributor_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    commission_bp: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(TS)
    __table_args__ = (
        CheckConstraint("commission_bp >= 0 AND commission_bp <= 10000", name="ck_distributors_commission"),
    )


class VoucherActivation(Base):
    """One sale: a serial range of one batch activated for one distributor."""

    __tablename__ = "voucher_activations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_pk: Mapped[int] = mapped_column(ForeignKey("batches.id"), index=True)
    distributor_pk: Mapped[int] = mapped_column(ForeignKey("distributors.id"), index=True)
    first_sequence: Mapped[int] = mapped_column(Integer)
    last_sequence: Mapped[int] = mapped_column(Integer)
    count: Mapped[int] = mapped_column(Integer)
    face_value: Mapped[int] = mapped_column(BigInteger)
    commission_each: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.id"))
    activated_at: Mapped[dt.datetime] = mapped_column(TS)
    actor: Mapped[str] = mapped_column(String(100))
    __table_args__ = (
        Index("ix_voucher_activations_activated_at", "activated_at"),  # 0015: the scan's bulk same-day rule
        CheckConstraint("count > 0", name="ck_voucher_activations_count"),
        CheckConstraint("commission_each >= 0 AND commission_each <= face_value",
                        name="ck_voucher_activations_commission"),
    )


class Consignment(Base):
    """Stock shipped to a distributor: a serial range of one batch that only it may activate."""

    __tablename__ = "consignments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_pk: Mapped[int] = mapped_column(ForeignKey("batches.id"), index=True)
    distributor_pk: Mapped[int] = mapped_column(ForeignKey("distributors.id"), index=True)
    first_sequence: Mapped[int] = mapped_column(Integer)
    last_sequence: Mapped[int] = mapped_column(Integer)
    count: Mapped[int] = mapped_column(Integer)  # cards of the range that became this distributor's
    moved: Mapped[int] = mapped_column(Integer, default=0)  # of which taken from another distributor
    consigned_at: Mapped[dt.datetime] = mapped_column(TS)
    actor: Mapped[str] = mapped_column(String(100))
    __table_args__ = (
        CheckConstraint("count > 0", name="ck_consignments_count"),
        CheckConstraint("moved >= 0 AND moved <= count", name="ck_consignments_moved"),
    )


class Payment(Base):
    """Money received through a channel: the payments subledger, one row per payment.

    A voucher redemption is channel ``voucher`` (external_ref = serial). A
    payment posted alone has its own journal transaction; the lines of an
    imported file share the file's one journal transaction (``import_id``).
    Idempotency: unique (channel, external_ref).
    """

    __tablename__ = "payments"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(32))
    external_ref: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer_accounts.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    applied_to_arrears: Mapped[int] = mapped_column(BigInteger)
    balance_after: Mapped[int] = mapped_column(BigInteger)  # prepaid balance right after booking
    paid_at: Mapped[dt.datetime] = mapped_column(TS)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.id"))
    import_id: Mapped[int | None] = mapped_column(ForeignKey("payment_imports.id"))
    status: Mapped[str] = mapped_column(String(16), default="booked")
    reconciliation_id: Mapped[int | None] = mapped_column(ForeignKey("reconciliation_runs.id"))
    __table_args__ = (
        UniqueConstraint("channel", "external_ref", name="uq_payments_channel_ref"),
        CheckConstraint("amount > 0", name="ck_payments_amount"),
        CheckConstraint("applied_to_arrears >= 0 AND applied_to_arrears <= amount", name="ck_payments_applied"),
        CheckConstraint(f"status IN {PAYMENT_STATUSES!r}", name="ck_payments_status"),
        Index("ix_payments_channel_paid_at", "channel", "paid_at"),  # PostgreSQL: BRIN on paid_at instead
        Index("ix_payments_customer_paid_at", "customer_id", "paid_at"),  # 0015: fraud rules per account
        Index("ix_payments_paid_at", "paid_at"),  # 0019: the fraud scan's range read (PostgreSQL: the BRIN)
    )


class PaymentImport(Base):
    """One imported channel file (all or nothing)."""

    __tablename__ = "payment_imports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(32))
    file_name: Mapped[str] = mapped_column(String(255))
    file_sha256: Mapped[str] = mapped_column(String(64), index=True)
    lines: Mapped[int] = mapped_column(Integer)
    booked: Mapped[int] = mapped_column(Integer)
    duplicates: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(BigInteger)
    imported_at: Mapped[dt.datetime] = mapped_column(TS)
    actor: Mapped[str] = mapped_column(String(100))


class ReconciliationRun(Base):
    """One reconciliation of a channel's settlement file against the books."""

    __tablename__ = "reconciliation_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(32))
    file_name: Mapped[str] = mapped_column(String(255))
    file_sha256: Mapped[str] = mapped_column(String(64), index=True)
    period_start: Mapped[dt.datetime] = mapped_column(TS)
    period_end: Mapped[dt.datetime] = mapped_column(TS)
    lines: Mapped[int] = mapped_column(Integer)
    matched: Mapped[int] = mapped_column(Integer)
    missing_in_books: Mapped[int] = mapped_column(Integer)
    missing_in_file: Mapped[int] = mapped_column(Integer)
    amount_mismatch: Mapped[int] = mapped_column(Integer)
    settled_count: Mapped[int] = mapped_column(Integer)
    settled_amount: Mapped[int] = mapped_column(BigInteger)
    settlement_transaction_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transactions.id"))
    run_at: Mapped[dt.datetime] = mapped_column(TS)
    actor: Mapped[str] = mapped_column(String(100))


# Columns this package adds to the issuer's ``vouchers`` table (migration
# 0002_ledger). Until storage.models.Voucher maps them, the books address them
# through this lightweight table clause.
vouchers_lifecycle = table(
    "vouchers",
    column("id", BigInteger), column("batch_pk", Integer), column("sequence", Integer),
    column("serial", String), column("status", String), column("face_value", BigInteger),
    column("currency", String), column("expires", Date), column("distributor_id", String),
    column("consigned_to", String), column("activated_at", TS()), column("redeemed_at", TS()),
    column("expired_at", TS()), column("voided_at", TS()), column("updated_at", TS()),
)
