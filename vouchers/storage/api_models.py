"""Tables of the redemption API: clients, idempotency, redemptions, outbox,
fraud alerts and the shared throttle counters.

No secret lives here either: API keys are stored as SHA-256 of a 256-bit
random secret, idempotency fingerprints are keyed hashes, and no row ever
holds a voucher code or token.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from vouchers.storage.db import Base
from vouchers.storage.types import UTCDateTime

BigId = BigInteger().with_variant(Integer(), "sqlite")  # SQLite rowid aliasing needs INTEGER

CLIENT_ROLES = ("terminal", "distributor", "channel", "finance", "admin", "headend", "service", "sms_gateway")
IDEMPOTENCY_STATES = ("in_flight", "done")
REDEMPTION_CHANNELS = ("terminal", "web", "sms")


class ApiClient(Base):
    """A caller of the HTTP API. The key is ``<client_id>.<secret>``; only SHA-256(secret) is kept."""

    __tablename__ = "api_clients"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str | None] = mapped_column(String(32))
    distributor_id: Mapped[str | None] = mapped_column(String(64))
    key_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str | None] = mapped_column(String(100))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    __table_args__ = (
        CheckConstraint(f"role IN {CLIENT_ROLES!r}", name="ck_api_clients_role"),
        CheckConstraint("role <> 'channel' OR channel IS NOT NULL", name="ck_api_clients_channel"),
        CheckConstraint("role <> 'distributor' OR distributor_id IS NOT NULL", name="ck_api_clients_distributor"),
    )


class IdempotencyRecord(Base):
    """One Idempotency-Key of one caller: reserved in flight, then the stored response."""

    __tablename__ = "idempotency_records"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(64))  # "client:<pk>" or "web"
    client_pk: Mapped[int | None] = mapped_column(ForeignKey("api_clients.id"))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))  # keyed hash of method, route and body
    state: Mapped[str] = mapped_column(String(16))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    __table_args__ = (
        UniqueConstraint("scope", "key", name="uq_idempotency_records_scope_key"),
        CheckConstraint(f"state IN {IDEMPOTENCY_STATES!r}", name="ck_idempotency_records_state"),
        Index("ix_idempotency_records_created_at", "created_at"),
    )


class Redemption(Base):
    """A voucher redeemed onto a customer account; at most one per voucher."""

    __tablename__ = "redemptions"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    redemption_id: Mapped[str] = mapped_column(String(40), unique=True)
    voucher_id: Mapped[int] = mapped_column(ForeignKey("vouchers.id"), unique=True)
    serial: Mapped[str] = mapped_column(String(32))
    account_no: Mapped[str] = mapped_column(String(32), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    applied_to_arrears: Mapped[int] = mapped_column(BigInteger)
    credited_to_balance: Mapped[int] = mapped_column(BigInteger)
    balance_after: Mapped[int] = mapped_column(BigInteger)
    channel: Mapped[str] = mapped_column(String(16))
    client_pk: Mapped[int | None] = mapped_column(ForeignKey("api_clients.id"))
    ledger_transaction_id: Mapped[int | None] = mapped_column(BigInteger)
    redeemed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    __table_args__ = (
        CheckConstraint("amount > 0", name="ck_redemptions_amount"),
        CheckConstraint("applied_to_arrears >= 0 AND credited_to_balance >= 0 "
                        "AND applied_to_arrears + credited_to_balance = amount", name="ck_redemptions_split"),
        CheckConstraint(f"channel IN {REDEMPTION_CHANNELS!r}", name="ck_redemptions_channel"),
    )


class OutboxMessage(Base):
    """A notification to send after commit (customer SMS); written in the same transaction."""

    __tablename__ = "outbox_messages"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    account_no: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str | None] = mapped_column(String(32))  # a phone number (SMS top-up reply); NULL: the account's
    payload: Mapped[str] = mapped_column(Text)  # JSON; never a voucher code (sms.sts_token: the token to type)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())  # backoff or a sender's lease
    dead_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())  # gave up after max attempts
    __table_args__ = (Index("ix_outbox_messages_unsent", "sent_at", "id"),)


class SmsInbound(Base):
    """A signed SMS-gateway request accepted once: the same signature or message id again is a replay."""

    __tablename__ = "sms_inbound"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    client_pk: Mapped[int] = mapped_column(ForeignKey("api_clients.id"))
    message_id: Mapped[str] = mapped_column(String(64))
    signature_hash: Mapped[bytes] = mapped_column(LargeBinary(32))  # SHA-256 of the signature
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    __table_args__ = (
        UniqueConstraint("client_pk", "message_id", name="uq_sms_inbound_message"),
        UniqueConstraint("signature_hash", name="uq_sms_inbound_signature"),
    )


class FraudAlert(Base):
    """A suspicious redemption attempt (void, not activated or canary voucher; a lockout)."""

    __tablename__ = "fraud_alerts"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    serial: Mapped[str | None] = mapped_column(String(32), index=True)
    voucher_status: Mapped[str | None] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    client_id: Mapped[str | None] = mapped_column(String(40))
    ip: Mapped[str | None] = mapped_column(String(64))
    account_no: Mapped[str | None] = mapped_column(String(32))
    details: Mapped[str | None] = mapped_column(Text)  # JSON, never secrets


class ThrottleCounter(Base):
    """Failed attempts of one subject (client, IP, account) in a fixed window, shared by all workers."""

    __tablename__ = "throttle_counters"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    failures: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
