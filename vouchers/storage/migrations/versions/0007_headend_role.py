"""API clients: the ``headend`` role (a metering head-end posts readings and acknowledges orders).

Revision ID: 0007_headend_role
Revises: 0006_sts_keychange

Only the CHECK constraint's list of roles changes (:mod:`vouchers.storage.migrations.check_in`:
PostgreSQL drops and re-creates it; SQLite, which cannot rebuild ``api_clients`` while other
tables' rows reference it, edits the stored definition in place - a constraint that accepts one
more value leaves the stored rows valid).
"""
from __future__ import annotations

from alembic import op
from sqlalchemy import text

from vouchers.storage.migrations.check_in import replace_check_in

revision = "0007_headend_role"
down_revision = "0006_sts_keychange"
branch_labels = None
depends_on = None

_OLD = "('terminal', 'distributor', 'channel', 'finance', 'admin')"
_NEW = "('terminal', 'distributor', 'channel', 'finance', 'admin', 'headend')"


def upgrade() -> None:
    replace_check_in("api_clients", "role", "ck_api_clients_role", _OLD, _NEW)


def downgrade() -> None:
    left = op.get_bind().execute(text("SELECT count(*) FROM api_clients WHERE role = 'headend'")).scalar_one()
    if left:
        raise RuntimeError(f"{left} headend API clients exist: delete them before downgrading")
    replace_check_in("api_clients", "role", "ck_api_clients_role", _NEW, _OLD)
