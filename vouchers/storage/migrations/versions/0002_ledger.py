"""The books: double-entry ledger, customers, bills, distributors, payments, reconciliation.

Also adds ``vouchers.expired_at`` and ``vouchers.voided_at`` (when a card left
the liability) and, on PostgreSQL, the triggers that enforce zero-sum and
immutability inside the database.

Revision ID: 0002_ledger
Revises: 0001_foundation
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_ledger"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)

# --- PostgreSQL: zero-sum (deferred) and immutability ---------------------------------
# Zero-sum is checked once per database transaction at COMMIT: statement
# triggers remember the range of journal ids written by this transaction (in
# transaction-local settings) and the first deferred row trigger to fire checks
# every journal transaction of that range written by this database transaction
# (db_txid = txid_current()) in one set-based query; the others return at once.
_PG_UP = r"""
CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'ledger table % is append-only: % refused (book a reversing transaction instead)',
    TG_TABLE_NAME, TG_OP USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER ledger_postings_immutable BEFORE UPDATE OR DELETE ON ledger_postings
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_transactions_immutable BEFORE UPDATE OR DELETE ON ledger_transactions
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

CREATE FUNCTION ledger_track_new_transactions() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  lo bigint; hi bigint; cur_lo text; cur_hi text;
BEGIN
  SELECT min(id), max(id) INTO lo, hi FROM new_rows;
  IF lo IS NULL THEN RETURN NULL; END IF;
  cur_lo := nullif(current_setting('ledger.check_lo', true), '');
  cur_hi := nullif(current_setting('ledger.check_hi', true), '');
  IF cur_lo IS NOT NULL THEN
    lo := least(lo, cur_lo::bigint);
    hi := greatest(hi, cur_hi::bigint);
  END IF;
  PERFORM set_config('ledger.check_lo', lo::text, true);
  PERFORM set_config('ledger.check_hi', hi::text, true);
  PERFORM set_config('ledger.check_done', '', true);
  RETURN NULL;
END $$;

CREATE TRIGGER ledger_transactions_track AFTER INSERT ON ledger_transactions
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ledger_track_new_transactions();

CREATE FUNCTION ledger_check_new_postings() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  bad bigint;
BEGIN
  -- references, checked once per statement instead of per-row foreign keys
  SELECT p.transaction_id INTO bad
    FROM new_rows p
    LEFT JOIN ledger_accounts a ON a.id = p.account_id AND a.currency = p.currency
   WHERE a.id IS NULL
   LIMIT 1;
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'journal transaction %: posting to an unknown account or in another currency than its account',
      bad USING ERRCODE = 'foreign_key_violation';
  END IF;
  SELECT p.transaction_id INTO bad
    FROM new_rows p LEFT JOIN ledger_transactions t ON t.id = p.transaction_id
   WHERE t.id IS NULL OR t.db_txid IS DISTINCT FROM txid_current()
   LIMIT 1;
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'journal transaction % is unknown or belongs to an earlier database transaction: postings are immutable',
      bad USING ERRCODE = 'restrict_violation';
  END IF;
  PERFORM set_config('ledger.check_done', '', true);
  RETURN NULL;
END $$;

CREATE TRIGGER ledger_postings_append AFTER INSERT ON ledger_postings
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_new_postings();

CREATE FUNCTION ledger_check_zero_sum() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  lo bigint; hi bigint; bad bigint;
BEGIN
  IF current_setting('ledger.check_done', true) = '1' THEN
    RETURN NULL;
  END IF;
  lo := least(coalesce(nullif(current_setting('ledger.check_lo', true), '')::bigint, NEW.id), NEW.id);
  hi := greatest(coalesce(nullif(current_setting('ledger.check_hi', true), '')::bigint, NEW.id), NEW.id);
  WITH tx AS (
         SELECT id FROM ledger_transactions
          WHERE id BETWEEN lo AND hi AND db_txid = txid_current()),
       per_currency AS (
         SELECT transaction_id, sum(amount) AS total, count(*) AS n
           FROM ledger_postings WHERE transaction_id BETWEEN lo AND hi
          GROUP BY transaction_id, currency),
       per_tx AS (
         SELECT transaction_id, sum(n) AS n, bool_or(total <> 0) AS unbalanced
           FROM per_currency GROUP BY transaction_id)
  SELECT tx.id INTO bad
    FROM tx LEFT JOIN per_tx ON per_tx.transaction_id = tx.id
   WHERE per_tx.transaction_id IS NULL OR per_tx.n < 2 OR per_tx.unbalanced
   LIMIT 1;
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'journal transaction % does not balance: it needs at least two postings summing to zero per currency',
      bad USING ERRCODE = 'check_violation';
  END IF;
  PERFORM set_config('ledger.check_done', '1', true);
  RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER ledger_transactions_zero_sum AFTER INSERT ON ledger_transactions
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_zero_sum();

-- payments: references checked per statement (a million-line import would
-- otherwise run a million foreign-key lookups per column)
CREATE FUNCTION ledger_check_payment_refs() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE TRIGGER payments_refs_insert AFTER INSERT ON payments
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_payment_refs();
CREATE TRIGGER payments_refs_update AFTER UPDATE ON payments
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_payment_refs();

-- what postings and payments refer to is never deleted
CREATE TRIGGER ledger_accounts_keep BEFORE DELETE ON ledger_accounts
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER customer_accounts_keep BEFORE DELETE ON customer_accounts
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER payment_imports_keep BEFORE DELETE ON payment_imports
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER reconciliation_runs_keep BEFORE DELETE ON reconciliation_runs
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
"""

_PG_DOWN = r"""
DROP TRIGGER IF EXISTS reconciliation_runs_keep ON reconciliation_runs;
DROP TRIGGER IF EXISTS payment_imports_keep ON payment_imports;
DROP TRIGGER IF EXISTS customer_accounts_keep ON customer_accounts;
DROP TRIGGER IF EXISTS ledger_accounts_keep ON ledger_accounts;
DROP TRIGGER IF EXISTS payments_refs_update ON payments;
DROP TRIGGER IF EXISTS payments_refs_insert ON payments;
DROP FUNCTION IF EXISTS ledger_check_payment_refs();
DROP TRIGGER IF EXISTS ledger_transactions_zero_sum ON ledger_transactions;
DROP TRIGGER IF EXISTS ledger_postings_append ON ledger_postings;
DROP TRIGGER IF EXISTS ledger_transactions_track ON ledger_transactions;
DROP TRIGGER IF EXISTS ledger_transactions_immutable ON ledger_transactions;
DROP TRIGGER IF EXISTS ledger_postings_immutable ON ledger_postings;
DROP FUNCTION IF EXISTS ledger_check_zero_sum();
DROP FUNCTION IF EXISTS ledger_check_new_postings();
DROP FUNCTION IF EXISTS ledger_track_new_transactions();
DROP FUNCTION IF EXISTS ledger_refuse_change();
"""

# SQLite has one writer and the single write path; still refuse edits of the journal.
_SQLITE_UP = [
    f"CREATE TRIGGER {table}_no_{op_name.lower()} BEFORE {op_name} ON {table} "
    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: book a reversing transaction instead'); END"
    for table in ("ledger_postings", "ledger_transactions") for op_name in ("UPDATE", "DELETE")
]
_SQLITE_DOWN = [
    f"DROP TRIGGER IF EXISTS {table}_no_{op_name.lower()}"
    for table in ("ledger_postings", "ledger_transactions") for op_name in ("UPDATE", "DELETE")
]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name

    def sqlite(*items):
        return items if dialect != "postgresql" else ()

    op.create_table(
        "ledger_accounts",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("code", sa.String(120), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("balance", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("code", "currency", name="uq_ledger_accounts_code_currency"),
        sa.UniqueConstraint("id", "currency", name="uq_ledger_accounts_id_currency"),
        sa.CheckConstraint("kind IN ('asset', 'liability', 'income', 'expense')", name="ck_ledger_accounts_kind"),
    )
    op.create_table(
        "ledger_transactions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("external_ref", sa.String(160), nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("posted_at", TS, nullable=False),
        sa.Column("actor", sa.String(100)),
        sa.Column("memo", sa.Text),
        sa.Column("reverses_id", BigId, sa.ForeignKey("ledger_transactions.id")),
        sa.Column("db_txid", sa.BigInteger,
                  server_default=sa.text("txid_current()") if dialect == "postgresql" else None),
        sa.UniqueConstraint("source", "external_ref", name="uq_ledger_transactions_source_ref"),
    )
    # at most one full reversal per transaction (payment reversals are unique per payment instead)
    op.create_index("uq_ledger_transactions_reverses", "ledger_transactions", ["reverses_id"], unique=True,
                    postgresql_where=sa.text("kind = 'reversal'"), sqlite_where=sa.text("kind = 'reversal'"))
    # On PostgreSQL the high-volume tables (postings, payments) check their
    # references in statement-level triggers (set-based) instead of per-row
    # foreign keys; SQLite keeps the foreign keys.
    fk = sqlite
    op.create_table(
        "ledger_postings",
        sa.Column("transaction_id", BigId, *fk(sa.ForeignKey("ledger_transactions.id")), primary_key=True),
        sa.Column("line", sa.Integer, primary_key=True),
        sa.Column("account_id", BigId, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        *fk(sa.ForeignKeyConstraint(["account_id", "currency"], ["ledger_accounts.id", "ledger_accounts.currency"],
                                    name="fk_ledger_postings_account_currency")),
        sa.CheckConstraint("amount <> 0", name="ck_ledger_postings_nonzero"),
    )
    op.create_index("ix_ledger_postings_account", "ledger_postings", ["account_id"])
    op.create_table(
        "customer_accounts",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("account_no", sa.String(32), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("meter_no", sa.String(64)),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("arrears_account_id", BigId, sa.ForeignKey("ledger_accounts.id"), nullable=False),
        sa.Column("prepaid_account_id", BigId, sa.ForeignKey("ledger_accounts.id"), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "customer_bills",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("customer_id", BigId, sa.ForeignKey("customer_accounts.id"), nullable=False),
        sa.Column("bill_ref", sa.String(64), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("outstanding", sa.BigInteger, nullable=False),
        sa.Column("due_date", sa.Date, nullable=False),
        sa.Column("issued_at", TS, nullable=False),
        sa.Column("transaction_id", BigId, sa.ForeignKey("ledger_transactions.id"), nullable=False),
        sa.UniqueConstraint("customer_id", "bill_ref", name="uq_customer_bills_ref"),
        sa.CheckConstraint("amount > 0", name="ck_customer_bills_amount"),
        sa.CheckConstraint("outstanding >= 0 AND outstanding <= amount", name="ck_customer_bills_outstanding"),
    )
    op.create_index("ix_customer_bills_open", "customer_bills", ["customer_id", "due_date", "id"])
    op.create_table(
        "distributors",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("distributor_id", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(200)),
        sa.Column("commission_bp", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint("commission_bp >= 0 AND commission_bp <= 10000", name="ck_distributors_commission"),
    )
    op.create_table(
        "voucher_activations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("batch_pk", sa.Integer, sa.ForeignKey("batches.id"), nullable=False, index=True),
        sa.Column("distributor_pk", sa.Integer, sa.ForeignKey("distributors.id"), nullable=False, index=True),
        sa.Column("first_sequence", sa.Integer, nullable=False),
        sa.Column("last_sequence", sa.Integer, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("face_value", sa.BigInteger, nullable=False),
        sa.Column("commission_each", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("transaction_id", BigId, sa.ForeignKey("ledger_transactions.id"), nullable=False),
        sa.Column("activated_at", TS, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.CheckConstraint("count > 0", name="ck_voucher_activations_count"),
        sa.CheckConstraint("commission_each >= 0 AND commission_each <= face_value",
                           name="ck_voucher_activations_commission"),
    )
    op.create_table(
        "reconciliation_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("file_sha256", sa.String(64), nullable=False, index=True),
        sa.Column("period_start", TS, nullable=False),
        sa.Column("period_end", TS, nullable=False),
        sa.Column("lines", sa.Integer, nullable=False),
        sa.Column("matched", sa.Integer, nullable=False),
        sa.Column("missing_in_books", sa.Integer, nullable=False),
        sa.Column("missing_in_file", sa.Integer, nullable=False),
        sa.Column("amount_mismatch", sa.Integer, nullable=False),
        sa.Column("settled_count", sa.Integer, nullable=False),
        sa.Column("settled_amount", sa.BigInteger, nullable=False),
        sa.Column("settlement_transaction_id", BigId, sa.ForeignKey("ledger_transactions.id")),
        sa.Column("run_at", TS, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
    )
    op.create_table(
        "payment_imports",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("file_sha256", sa.String(64), nullable=False, index=True),
        sa.Column("lines", sa.Integer, nullable=False),
        sa.Column("booked", sa.Integer, nullable=False),
        sa.Column("duplicates", sa.Integer, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("imported_at", TS, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
    )
    op.create_table(
        "payments",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("external_ref", sa.String(64), nullable=False),
        sa.Column("customer_id", BigId, *fk(sa.ForeignKey("customer_accounts.id")), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("applied_to_arrears", sa.BigInteger, nullable=False),
        sa.Column("balance_after", sa.BigInteger, nullable=False),
        sa.Column("paid_at", TS, nullable=False),
        sa.Column("transaction_id", BigId, *fk(sa.ForeignKey("ledger_transactions.id")), nullable=False),
        sa.Column("import_id", sa.Integer, *fk(sa.ForeignKey("payment_imports.id"))),
        sa.Column("status", sa.String(16), nullable=False, server_default="booked"),
        sa.Column("reconciliation_id", sa.Integer, *fk(sa.ForeignKey("reconciliation_runs.id"))),
        sa.UniqueConstraint("channel", "external_ref", name="uq_payments_channel_ref"),
        sa.CheckConstraint("amount > 0", name="ck_payments_amount"),
        sa.CheckConstraint("applied_to_arrears >= 0 AND applied_to_arrears <= amount", name="ck_payments_applied"),
        sa.CheckConstraint("status IN ('booked', 'reversed')", name="ck_payments_status"),
    )
    if dialect == "postgresql":  # rows arrive roughly in paid_at order: a BRIN index costs next to nothing
        op.create_index("ix_payments_paid_at_brin", "payments", ["paid_at"], postgresql_using="brin")
    else:
        op.create_index("ix_payments_channel_paid_at", "payments", ["channel", "paid_at"])
    op.create_table(
        "bill_allocations",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("transaction_id", BigId, sa.ForeignKey("ledger_transactions.id"), nullable=False, index=True),
        sa.Column("payment_id", BigId, sa.ForeignKey("payments.id"), index=True),
        sa.Column("bill_id", BigId, sa.ForeignKey("customer_bills.id"), nullable=False, index=True),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.CheckConstraint("amount <> 0", name="ck_bill_allocations_nonzero"),
    )
    with op.batch_alter_table("vouchers") as batch:
        batch.add_column(sa.Column("expired_at", TS))
        batch.add_column(sa.Column("voided_at", TS))

    if dialect == "postgresql":
        op.execute(_PG_UP)
    elif dialect == "sqlite":
        for statement in _SQLITE_UP:
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(_PG_DOWN)
    elif dialect == "sqlite":
        for statement in _SQLITE_DOWN:
            op.execute(statement)
    with op.batch_alter_table("vouchers") as batch:
        batch.drop_column("voided_at")
        batch.drop_column("expired_at")
    op.drop_table("bill_allocations")
    op.drop_index("ix_payments_paid_at_brin" if dialect == "postgresql" else "ix_payments_channel_paid_at",
                  table_name="payments")
    op.drop_table("payments")
    op.drop_table("payment_imports")
    op.drop_table("reconciliation_runs")
    op.drop_table("voucher_activations")
    op.drop_table("distributors")
    op.drop_index("ix_customer_bills_open", table_name="customer_bills")
    op.drop_table("customer_bills")
    op.drop_table("customer_accounts")
    op.drop_index("ix_ledger_postings_account", table_name="ledger_postings")
    op.drop_table("ledger_postings")
    op.drop_index("uq_ledger_transactions_reverses", table_name="ledger_transactions")
    op.drop_table("ledger_transactions")
    op.drop_table("ledger_accounts")
