"""PostgreSQL: the payments reference check reads the inserted rows once instead of four times.

Revision ID: 0009_payment_refs_one_pass
Revises: 0008_ledger_fillfactor

``ledger_check_payment_refs`` (the statement trigger standing in for the
foreign keys of ``payments`` on PostgreSQL, see 0002) scanned its transition
table once per referenced table. Now one pass collects the distinct
customers and the lowest and highest journal transaction, import and
reconciliation; when a statement's rows share one of each (every writer
here: one journal transaction per statement), those three are one lookup
each. Rows with several values of one of them fall back to checking that
column's distinct values, so the check stays complete for any statement.
Same error and SQLSTATE as before. SQLite keeps its foreign keys: nothing
to do there.
"""
from __future__ import annotations

from alembic import op

revision = "0009_payment_refs_one_pass"
down_revision = "0008_ledger_fillfactor"
branch_labels = None
depends_on = None

_ONE_PASS = r"""
CREATE OR REPLACE FUNCTION ledger_check_payment_refs() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  customers bigint[];
  t_lo bigint; t_hi bigint; i_lo bigint; i_hi bigint; r_lo bigint; r_hi bigint;
  bad boolean;
BEGIN
  SELECT array_agg(DISTINCT customer_id), min(transaction_id), max(transaction_id), min(import_id), max(import_id),
         min(reconciliation_id), max(reconciliation_id)
    INTO customers, t_lo, t_hi, i_lo, i_hi, r_lo, r_hi
    FROM new_rows;
  IF customers IS NULL THEN
    RETURN NULL;  -- no rows
  END IF;
  bad := EXISTS (SELECT 1 FROM unnest(customers) n(id) LEFT JOIN customer_accounts c ON c.id = n.id
                  WHERE c.id IS NULL)
    OR t_lo IS NULL OR NOT EXISTS (SELECT 1 FROM ledger_transactions WHERE id = t_lo)
    OR NOT EXISTS (SELECT 1 FROM ledger_transactions WHERE id = t_hi)
    OR (i_lo IS NOT NULL AND NOT EXISTS (SELECT 1 FROM payment_imports WHERE id = i_lo))
    OR (i_hi IS NOT NULL AND NOT EXISTS (SELECT 1 FROM payment_imports WHERE id = i_hi))
    OR (r_lo IS NOT NULL AND NOT EXISTS (SELECT 1 FROM reconciliation_runs WHERE id = r_lo))
    OR (r_hi IS NOT NULL AND NOT EXISTS (SELECT 1 FROM reconciliation_runs WHERE id = r_hi));
  -- values strictly between the lowest and the highest: each distinct one (rare: several per statement)
  IF NOT bad AND t_lo <> t_hi THEN
    bad := EXISTS (SELECT 1 FROM (SELECT DISTINCT transaction_id FROM new_rows) n
                     LEFT JOIN ledger_transactions t ON t.id = n.transaction_id WHERE t.id IS NULL);
  END IF;
  IF NOT bad AND i_lo <> i_hi THEN
    bad := EXISTS (SELECT 1 FROM (SELECT DISTINCT import_id FROM new_rows WHERE import_id IS NOT NULL) n
                     LEFT JOIN payment_imports i ON i.id = n.import_id WHERE i.id IS NULL);
  END IF;
  IF NOT bad AND r_lo <> r_hi THEN
    bad := EXISTS (SELECT 1 FROM (SELECT DISTINCT reconciliation_id FROM new_rows
                                   WHERE reconciliation_id IS NOT NULL) n
                     LEFT JOIN reconciliation_runs r ON r.id = n.reconciliation_id WHERE r.id IS NULL);
  END IF;
  IF bad THEN
    RAISE EXCEPTION 'payments refer to an unknown customer, journal transaction, import or reconciliation'
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN NULL;
END $$;
"""

# the function as 0002_ledger created it
_FOUR_SCANS = r"""
CREATE OR REPLACE FUNCTION ledger_check_payment_refs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- each distinct reference once (an import is one transaction and a few thousand customers)
  IF EXISTS (SELECT 1 FROM (SELECT DISTINCT customer_id FROM new_rows) n
               LEFT JOIN customer_accounts c ON c.id = n.customer_id WHERE c.id IS NULL)
     OR EXISTS (SELECT 1 FROM (SELECT DISTINCT transaction_id FROM new_rows) n
               LEFT JOIN ledger_transactions t ON t.id = n.transaction_id WHERE t.id IS NULL)
     OR EXISTS (SELECT 1 FROM (SELECT DISTINCT import_id FROM new_rows WHERE import_id IS NOT NULL) n
               LEFT JOIN payment_imports i ON i.id = n.import_id WHERE i.id IS NULL)
     OR EXISTS (SELECT 1 FROM (SELECT DISTINCT reconciliation_id FROM new_rows
                                WHERE reconciliation_id IS NOT NULL) n
               LEFT JOIN reconciliation_runs r ON r.id = n.reconciliation_id WHERE r.id IS NULL) THEN
    RAISE EXCEPTION 'payments refer to an unknown customer, journal transaction, import or reconciliation'
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN NULL;
END $$;
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_ONE_PASS)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_FOUR_SCANS)
