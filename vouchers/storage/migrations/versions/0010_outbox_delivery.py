"""Outbox delivery state: next attempt (backoff or a sender's lease) and dead letters.

Revision ID: 0010_outbox_delivery
Revises: 0009_payment_refs_one_pass

``voucherctl outbox send`` delivers ``outbox_messages`` and
``metering_notifications``; both get ``next_attempt_at`` (not before this
time: the backoff after a failure, or the lease of the sender holding it) and
``dead_at`` (given up after the maximum number of attempts). Nullable
columns only: no rewrite of existing rows on either database.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_outbox_delivery"
down_revision = "0009_payment_refs_one_pass"
branch_labels = None
depends_on = None

_TABLES = ("outbox_messages", "metering_notifications")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("next_attempt_at", TS, nullable=True))
            batch.add_column(sa.Column("dead_at", TS, nullable=True))


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("dead_at")
            batch.drop_column("next_attempt_at")
