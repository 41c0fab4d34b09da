"""PostgreSQL: the bill tables check their references per statement, not per row.

Revision ID: 0011_bill_refs_per_statement
Revises: 0010_outbox_delivery

A billing run writes one ``metering_bills`` row per account and one
``customer_bills`` row per account that owes something, in statements of a
batch (5,000 accounts) each. Their six foreign keys were checked row by row:
a queued trigger event and a lookup per row and key, about two fifths of the
database's work in a run. As for ``payments`` and ``ledger_postings`` (0002),
these references are now checked set-based, once per statement:

* INSERT: a statement trigger reads the inserted rows (transition table)
  once: the distinct account numbers and customers, the ledger bills, and
  the lowest and highest billing run and journal transaction (every writer
  inserts one run and one transaction per statement; several are checked
  one by one). An unknown reference aborts the statement with SQLSTATE
  23503 (foreign_key_violation), as the foreign key did.
* UPDATE of a reference column (none of our writers does it): a row trigger
  checks the new value.
* The referenced rows: ``ledger_transactions`` refuses any change and
  ``customer_accounts`` already refuses DELETE; ``customer_accounts`` now also
  refuses a change of its id, and ``metering_accounts``, ``billing_runs`` and
  ``customer_bills`` refuse DELETE and a change of their key (bills and runs
  are records: nothing deletes them; TRUNCATE, used by the test suite, is not
  affected). These fire per statement, so they refuse even a DELETE that
  matches no row. Since no referenced row can go away or change its key, the
  checks need no row lock (a foreign key takes FOR KEY SHARE for that): what
  a check found stays true.

SQLite keeps its foreign keys: nothing to do there.
"""
from __future__ import annotations

from alembic import op

revision = "0011_bill_refs_per_statement"
down_revision = "0010_outbox_delivery"
branch_labels = None
depends_on = None

# (table, constraint, column, referenced table, referenced column): the foreign keys this replaces
FOREIGN_KEYS = (
    ("customer_bills", "customer_bills_customer_id_fkey", "customer_id", "customer_accounts", "id"),
    ("customer_bills", "customer_bills_transaction_id_fkey", "transaction_id", "ledger_transactions", "id"),
    ("metering_bills", "metering_bills_account_no_fkey", "account_no", "metering_accounts", "account_no"),
    ("metering_bills", "metering_bills_run_id_fkey", "run_id", "billing_runs", "id"),
    ("metering_bills", "metering_bills_customer_bill_id_fkey", "customer_bill_id", "customer_bills", "id"),
    ("metering_bills", "metering_bills_transaction_id_fkey", "transaction_id", "ledger_transactions", "id"),
)
KEPT = (("metering_accounts", "account_no"), ("billing_runs", "id"), ("customer_bills", "id"),
        ("customer_accounts", "id"))

_PG_UP = r"""
CREATE FUNCTION bills_refuse_key_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% rows are referred to by bills: % refused', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'restrict_violation';
END $$;

-- ids between the lowest and the highest of a statement, each distinct one (rare: our writers use one)
CREATE FUNCTION bills_unknown_between(lo bigint, hi bigint, ids bigint[], referenced regclass) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
DECLARE
  missing boolean;
BEGIN
  IF lo IS NULL THEN
    RETURN false;
  END IF;
  EXECUTE format('SELECT NOT EXISTS (SELECT 1 FROM %s WHERE id = $1) OR NOT EXISTS (SELECT 1 FROM %s WHERE id = $2)',
                 referenced, referenced) INTO missing USING lo, hi;
  IF NOT missing AND lo <> hi THEN
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM (SELECT DISTINCT id FROM unnest($1) n(id)) n '
                   'WHERE n.id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM %s r WHERE r.id = n.id))', referenced)
      INTO missing USING ids;
  END IF;
  RETURN missing;
END $$;

CREATE FUNCTION metering_check_bill_refs() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  accounts text[]; ledger_bills bigint[]; runs bigint[]; transactions bigint[];
  r_lo bigint; r_hi bigint; t_lo bigint; t_hi bigint;
  bad boolean;
BEGIN
  SELECT array_agg(account_no), array_agg(customer_bill_id) FILTER (WHERE customer_bill_id IS NOT NULL),
         min(run_id), max(run_id), min(transaction_id), max(transaction_id)
    INTO accounts, ledger_bills, r_lo, r_hi, t_lo, t_hi
    FROM new_rows;
  IF accounts IS NULL THEN
    RETURN NULL;  -- no rows
  END IF;
  bad := EXISTS (SELECT 1 FROM unnest(accounts) n(no)
                  WHERE NOT EXISTS (SELECT 1 FROM metering_accounts a WHERE a.account_no = n.no))
    OR EXISTS (SELECT 1 FROM unnest(ledger_bills) n(id)
                WHERE NOT EXISTS (SELECT 1 FROM customer_bills b WHERE b.id = n.id));
  IF NOT bad AND (r_lo <> r_hi OR t_lo <> t_hi) THEN
    SELECT array_agg(run_id), array_agg(transaction_id) INTO runs, transactions FROM new_rows;
  END IF;
  bad := bad OR bills_unknown_between(r_lo, r_hi, runs, 'billing_runs')
             OR bills_unknown_between(t_lo, t_hi, transactions, 'ledger_transactions');
  IF bad THEN
    RAISE EXCEPTION 'metering bills refer to an unknown account, billing run, ledger bill or journal transaction'
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION ledger_check_customer_bill_refs() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  customers bigint[]; transactions bigint[];
  t_lo bigint; t_hi bigint;
  bad boolean;
BEGIN
  SELECT array_agg(customer_id), min(transaction_id), max(transaction_id) INTO customers, t_lo, t_hi FROM new_rows;
  IF customers IS NULL THEN
    RETURN NULL;
  END IF;
  bad := EXISTS (SELECT 1 FROM unnest(customers) n(id)
                  WHERE NOT EXISTS (SELECT 1 FROM customer_accounts c WHERE c.id = n.id));
  IF NOT bad AND t_lo <> t_hi THEN
    SELECT array_agg(transaction_id) INTO transactions FROM new_rows;
  END IF;
  IF bad OR bills_unknown_between(t_lo, t_hi, transactions, 'ledger_transactions') THEN
    RAISE EXCEPTION 'ledger bills refer to an unknown customer or journal transaction'
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN NULL;
END $$;

-- an UPDATE that sets a reference column: the new value, row by row (none of our writers does it)
CREATE FUNCTION metering_check_bill_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM metering_accounts WHERE account_no = NEW.account_no)
     OR (NEW.run_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM billing_runs WHERE id = NEW.run_id))
     OR (NEW.customer_bill_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM customer_bills WHERE id = NEW.customer_bill_id))
     OR (NEW.transaction_id IS NOT NULL
         AND NOT EXISTS (SELECT 1 FROM ledger_transactions WHERE id = NEW.transaction_id)) THEN
    RAISE EXCEPTION 'metering bills refer to an unknown account, billing run, ledger bill or journal transaction'
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN NEW;
END $$;

CREATE FUNCTION ledger_check_customer_bill_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM customer_accounts WHERE id = NEW.customer_id)
     OR NOT EXISTS (SELECT 1 FROM ledger_transactions WHERE id = NEW.transaction_id) THEN
    RAISE EXCEPTION 'ledger bills refer to an unknown customer or journal transaction'
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER metering_bills_refs_insert AFTER INSERT ON metering_bills
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION metering_check_bill_refs();
CREATE TRIGGER metering_bills_refs_update BEFORE UPDATE OF account_no, run_id, customer_bill_id, transaction_id
  ON metering_bills FOR EACH ROW EXECUTE FUNCTION metering_check_bill_update();
CREATE TRIGGER customer_bills_refs_insert AFTER INSERT ON customer_bills
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_customer_bill_refs();
CREATE TRIGGER customer_bills_refs_update BEFORE UPDATE OF customer_id, transaction_id
  ON customer_bills FOR EACH ROW EXECUTE FUNCTION ledger_check_customer_bill_update();
"""


def _keep_triggers() -> str:
    return "\n".join(
        f"CREATE TRIGGER {table}_keep_for_bills BEFORE DELETE OR UPDATE OF {key} ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION bills_refuse_key_change();" for table, key in KEPT)


_PG_DOWN = r"""
DROP TRIGGER IF EXISTS customer_bills_refs_update ON customer_bills;
DROP TRIGGER IF EXISTS customer_bills_refs_insert ON customer_bills;
DROP TRIGGER IF EXISTS metering_bills_refs_update ON metering_bills;
DROP TRIGGER IF EXISTS metering_bills_refs_insert ON metering_bills;
DROP FUNCTION IF EXISTS ledger_check_customer_bill_update();
DROP FUNCTION IF EXISTS metering_check_bill_update();
DROP FUNCTION IF EXISTS ledger_check_customer_bill_refs();
DROP FUNCTION IF EXISTS metering_check_bill_refs();
DROP FUNCTION IF EXISTS bills_unknown_between(bigint, bigint, bigint[], regclass);
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, name, *_ in FOREIGN_KEYS:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
    op.execute(_PG_UP)
    op.execute(_keep_triggers())


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, _ in KEPT:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_keep_for_bills ON {table}")
    op.execute("DROP FUNCTION IF EXISTS bills_refuse_key_change()")
    op.execute(_PG_DOWN)
    for table, name, column, referenced, key in FOREIGN_KEYS:
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({column}) REFERENCES {referenced} ({key})")
