"""When an STS keypad meter was taken out of service (``sts_meters.deactivated_at``).

Revision ID: 0012_sts_meter_deactivated_at
Revises: 0011_bill_refs_per_statement

While a keypad meter is active its energy is paid for when tokens are
vended, so billing skips the account. Once it is deactivated the account is
billed from readings again, and the readings recorded while the keypad meter
served must not be charged a second time: billing and the prepaid estimate
treat the local day of the latest deactivation like a bill's closing date.
Set on deactivation, cleared on reactivation; meters deactivated before this
revision get their last update time (the deactivation, as nothing else
updates an inactive meter). Nullable: no rewrite on either database.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_sts_meter_deactivated_at"
down_revision = "0011_bill_refs_per_statement"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sts_meters") as batch:
        batch.add_column(sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(sa.text("UPDATE sts_meters SET deactivated_at = updated_at WHERE NOT active"))


def downgrade() -> None:
    with op.batch_alter_table("sts_meters") as batch:
        batch.drop_column("deactivated_at")
