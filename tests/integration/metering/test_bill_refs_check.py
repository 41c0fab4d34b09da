"""PostgreSQL: the statement triggers that stand in for the foreign keys of the bill tables (migrations 0011, 0013).

``metering_bills`` (account, billing run, ledger bill, journal transaction)
and ``customer_bills`` (customer, journal transaction) check their
references once per statement; a statement whose rows carry several values
of one of them must still have every value checked, by INSERT ... SELECT
and by COPY (how billing writes them). The referenced billing runs, ledger
bills and metering accounts refuse DELETE and a change of their key.
"""
from __future__ import annotations

import datetime as dt

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from vouchers.books import customers
from vouchers.metering.bulk import copy_rows
from vouchers.storage.migrate import MIGRATIONS
from tests.conftest import _truncate_all
from tests.integration.books.test_payment_refs_check import _transaction_ids_with_a_gap

METERING_REFUSED = "metering bills refer to an unknown account, billing run, ledger bill or journal transaction"
LEDGER_REFUSED = "ledger bills refer to an unknown customer or journal transaction"
FOREIGN_KEY_VIOLATION = "23503"
RESTRICT_VIOLATION = "23001"

FOREIGN_KEYS = ("customer_bills_customer_id_fkey", "customer_bills_transaction_id_fkey",
                "metering_bills_account_no_fkey", "metering_bills_run_id_fkey",
                "metering_bills_customer_bill_id_fkey", "metering_bills_transaction_id_fkey")
TRIGGERS = ("metering_bills_refs_insert", "metering_bills_refs_update", "customer_bills_refs_insert",
            "customer_bills_refs_update", "metering_accounts_keep_for_bills", "billing_runs_keep_for_bills",
            "customer_bills_keep_for_bills", "customer_accounts_keep_for_bills")
FUNCTIONS = ("bills_refuse_key_change", "bills_unknown_between", "metering_check_bill_refs",
             "ledger_check_customer_bill_refs", "metering_check_bill_update", "ledger_check_customer_bill_update",
             "bills_ids_all_exist")

# three metering bills in one statement, the i-th with the i-th element of each array (periods differ: an
# account may appear twice)
_INSERT_METERING = text(
    "INSERT INTO metering_bills (account_no, period, run_id, tariff_id, version_from, tariff_period_start, "
    "  months_of_supply, payment_mode, customer_class, closing_date, kwh_ckwh, used_before_ckwh, period_kwh_ckwh, "
    "  lines, subtotal, total_fen, customer_bill_id, transaction_id, due_date, issued_on, issued_at) "
    "SELECT (CAST(:accounts AS text[]))[g], '2026-0' || g, (CAST(:runs AS int[]))[g], 'fj-residential', "
    "  DATE '2026-01-01', DATE '2026-01-01', 1, 'postpaid', 'residential', DATE '2026-10-31', 100, 0, 100, "
    "  '[]', '1.00', 100, (CAST(:bills AS bigint[]))[g], (CAST(:transactions AS bigint[]))[g], "
    "  DATE '2026-11-20', DATE '2026-11-01', now() "
    "FROM generate_series(1, 3) g")
# three ledger bills in one statement
_INSERT_LEDGER = text(
    "INSERT INTO customer_bills (customer_id, bill_ref, amount, outstanding, due_date, issued_at, transaction_id) "
    "SELECT (CAST(:customers AS bigint[]))[g], 'T' || g, 100, 100, DATE '2026-11-20', now(), "
    "  (CAST(:transactions AS bigint[]))[g] FROM generate_series(1, 3) g")

_METERING_COPY_COLUMNS = (
    "account_no", "period", "run_id", "tariff_id", "version_from", "tariff_period_start", "months_of_supply",
    "payment_mode", "customer_class", "closing_date", "kwh_ckwh", "used_before_ckwh", "period_kwh_ckwh", "lines",
    "subtotal", "total_fen", "customer_bill_id", "transaction_id", "due_date", "issued_on", "issued_at")
_LEDGER_COPY_COLUMNS = ("customer_id", "bill_ref", "amount", "outstanding", "due_date", "issued_at",
                        "transaction_id")


pytestmark = pytest.mark.postgres  # SQLite keeps the foreign keys: these triggers are PostgreSQL's


@pytest.fixture
def db_url(pg_engine) -> str:
    """PostgreSQL only (the suite's ``db_url`` also runs SQLite), emptied for each test."""
    _truncate_all(pg_engine)
    return pg_engine.url.render_as_string(hide_password=False)


@pytest.fixture
def pg(engine):
    return engine


def _gap(sessions, insert, params) -> tuple[int, int, int]:
    """Three ids of ``insert ... RETURNING id``: the first and third committed, the second rolled back."""
    ids = []
    for keep in (True, False, True):
        with sessions() as s:
            s.begin()
            ids.append(s.execute(insert, params).scalar_one())
            s.commit() if keep else s.rollback()
    assert ids[1] == ids[0] + 1 and ids[2] == ids[0] + 2
    return ids[0], ids[1], ids[2]


def _customer_ids_with_a_gap(world, sessions, now) -> tuple[int, int, int]:
    """Customers (with metering accounts) 0101 and 0103; 0102 was opened and rolled back (its id unused)."""
    find = text("SELECT id FROM customer_accounts WHERE account_no = :no")
    world.customer("0101")
    with sessions() as s:
        s.begin()
        customers.create_customer(s, "0102", "rolled back", now=now)
        c2 = s.execute(find, {"no": "0102"}).scalar_one()
        s.rollback()
    world.customer("0103")
    with sessions.begin() as s:
        c1, c3 = (s.execute(find, {"no": no}).scalar_one() for no in ("0101", "0103"))
    assert c1 < c2 < c3
    return c1, c2, c3


@pytest.fixture
def refs(pg, world, sessions, now):
    c = _customer_ids_with_a_gap(world, sessions, now)
    t = _transaction_ids_with_a_gap(sessions, now)
    runs = _gap(sessions, text(
        "INSERT INTO billing_runs (period, as_of, status, started_at, actor) "
        "VALUES ('2026-10', DATE '2026-10-31', 'finished', :now, 't') RETURNING id"), {"now": now})
    bills = _gap(sessions, text(
        "INSERT INTO customer_bills (customer_id, bill_ref, amount, outstanding, due_date, issued_at, transaction_id) "
        "VALUES (:c, CAST(gen_random_uuid() AS text), 100, 100, DATE '2026-11-20', :now, :t) RETURNING id"),
        {"c": c[0], "t": t[0], "now": now})
    return {"customers": c, "transactions": t, "runs": runs, "bills": bills, "accounts": ("0101", "0102", "0103")}


def _metering_values(refs) -> dict[str, list]:
    """Known references only: several of each per statement, lowest and highest included."""
    a1, _, a3 = refs["accounts"]
    r1, _, r3 = refs["runs"]
    b1, _, b3 = refs["bills"]
    t1, _, t3 = refs["transactions"]
    return {"accounts": [a1, a3, a1], "runs": [r1, r3, None], "bills": [b1, b3, None],
            "transactions": [t1, t3, t3]}


def _ledger_values(refs) -> dict[str, list]:
    c1, _, c3 = refs["customers"]
    t1, _, t3 = refs["transactions"]
    return {"customers": [c1, c3, c1], "transactions": [t1, t3, t3]}


def _insert_metering(sessions, values) -> None:
    with sessions.begin() as s:
        s.execute(_INSERT_METERING, values)


def _insert_ledger(sessions, values) -> None:
    with sessions.begin() as s:
        s.execute(_INSERT_LEDGER, values)


def _copy_metering(sessions, values, now) -> None:
    day = dt.date.fromisoformat
    with sessions.begin() as s:
        copy_rows(s, "metering_bills", _METERING_COPY_COLUMNS, [
            (a, f"2026-0{g}", r, "fj-residential", day("2026-01-01"), day("2026-01-01"), 1, "postpaid",
             "residential", day("2026-10-31"), 100, 0, 100, "[]", "1.00", 100, b, t, day("2026-11-20"),
             day("2026-11-01"), now)
            for g, (a, r, b, t) in enumerate(zip(values["accounts"], values["runs"], values["bills"],
                                                 values["transactions"], strict=True), start=1)])


def _copy_ledger(sessions, values, now) -> None:
    with sessions.begin() as s:
        copy_rows(s, "customer_bills", _LEDGER_COPY_COLUMNS, [
            (c, f"T{g}", 100, 100, dt.date(2026, 11, 20), now, t)
            for g, (c, t) in enumerate(zip(values["customers"], values["transactions"], strict=True), start=1)])


def _sqlstate(error: BaseException) -> str | None:
    """SQLSTATE of a SQLAlchemy-wrapped error or of a raw psycopg one (COPY goes through the raw cursor)."""
    return getattr(getattr(error, "orig", None), "sqlstate", None) or getattr(error, "sqlstate", None)


def _counts(sessions) -> tuple[int, int]:
    with sessions.begin() as s:
        return (s.execute(text("SELECT count(*) FROM metering_bills")).scalar_one(),
                s.execute(text("SELECT count(*) FROM customer_bills WHERE bill_ref LIKE 'T%'")).scalar_one())


# -- 1. known references go in ------------------------------------------------------------------------------------

def test_rows_with_known_references_go_in(sessions, refs):
    _insert_ledger(sessions, _ledger_values(refs))
    _insert_metering(sessions, _metering_values(refs))
    assert _counts(sessions) == (3, 3)


def test_rows_with_known_references_go_in_by_copy(sessions, refs, now):
    _copy_ledger(sessions, _ledger_values(refs), now)
    _copy_metering(sessions, _metering_values(refs), now)
    assert _counts(sessions) == (3, 3)
    with sessions.begin() as s:
        assert s.execute(text("SELECT count(DISTINCT run_id) + count(DISTINCT customer_bill_id) "
                              "+ count(DISTINCT transaction_id) FROM metering_bills")).scalar_one() == 6


# -- 1b. a batch's worth: the range is read once (0013), a key missing inside it still refused ------------------

def _accounts_in_a_row(world, count: int) -> list[str]:
    return [world.customer(f"02{i:02d}") for i in range(1, count + 1)]


def _copy_batch(sessions, refs, accounts, now) -> None:
    """One bill per account for 2026-11, as a billing batch writes them."""
    day = dt.date.fromisoformat
    r1, t1 = refs["runs"][0], refs["transactions"][0]
    with sessions.begin() as s:
        copy_rows(s, "metering_bills", _METERING_COPY_COLUMNS, [
            (a, "2026-11", r1, "fj-residential", day("2026-01-01"), day("2026-11-01"), 1, "postpaid", "residential",
             day("2026-11-30"), 100, 0, 100, "[]", "1.00", 100, None, t1, day("2026-12-20"), day("2026-11-30"), now)
            for a in accounts])


def test_a_batch_of_accounts_in_a_row_goes_in(sessions, refs, world, now):
    accounts = _accounts_in_a_row(world, 20)
    _copy_batch(sessions, refs, accounts[2:18], now)  # most of a range: read as a range
    _copy_batch(sessions, refs, accounts[18:], now)
    assert _counts(sessions) == (18, 0)


@pytest.mark.parametrize("unknown", ["0210x", "0200", "0221"])  # inside the range, below it, above it
def test_an_unknown_account_in_a_batch_in_a_row_is_refused(sessions, refs, world, now, unknown):
    accounts = _accounts_in_a_row(world, 20)
    with pytest.raises((DBAPIError, psycopg.Error), match=METERING_REFUSED) as refused:
        _copy_batch(sessions, refs, sorted([*accounts, unknown]), now)
    assert _sqlstate(refused.value) == FOREIGN_KEY_VIOLATION
    assert _counts(sessions) == (0, 0)


def test_ids_all_exist_only_for_a_dense_range_of_existing_rows(sessions, world):
    accounts = _accounts_in_a_row(world, 20)
    with sessions.begin() as s:
        ids = sorted(s.execute(text("SELECT id FROM customer_accounts WHERE account_no = ANY(:a)"),
                               {"a": accounts}).scalars())
        lo, hi = ids[0], ids[-1]
        assert hi - lo + 1 == 20

        def all_exist(lo: int | None, hi: int | None, listed: int) -> bool:
            return s.execute(text("SELECT bills_ids_all_exist(:lo, :hi, :n, 'customer_accounts')"),
                             {"lo": lo, "hi": hi, "n": listed}).scalar_one()

        assert all_exist(lo, hi, 20) and all_exist(lo, hi, 2)  # the rows between exist: so do the listed ones
        assert not all_exist(lo, hi + 1, 20)  # hi + 1 does not exist: not proven (the lookup decides)
        assert not all_exist(lo - 1_000, hi, 2)  # a sparse list: its range is not read
        assert not all_exist(None, None, 0)


# -- 2. an unknown reference between known ones -------------------------------------------------------------------

@pytest.mark.parametrize("column", ["accounts", "runs", "bills", "transactions"])
def test_an_unknown_metering_bill_reference_between_known_ones_is_refused(sessions, refs, column):
    values = _metering_values(refs)
    # the middle row's reference does not exist (rolled back, or never opened: account 0102); the lowest and the
    # highest of the statement do
    values[column] = list(refs[column])
    with pytest.raises(DBAPIError, match=METERING_REFUSED) as refused:
        _insert_metering(sessions, values)
    assert _sqlstate(refused.value) == FOREIGN_KEY_VIOLATION  # as the foreign key did
    assert _counts(sessions) == (0, 0)


def test_an_unknown_account_is_refused(sessions, refs):
    values = _metering_values(refs)
    values["accounts"] = ["0101", "9999", "0103"]  # no customer, no metering account
    with pytest.raises(DBAPIError, match=METERING_REFUSED) as refused:
        _insert_metering(sessions, values)
    assert _sqlstate(refused.value) == FOREIGN_KEY_VIOLATION
    assert _counts(sessions) == (0, 0)


def test_a_customer_without_a_metering_account_is_not_an_account(sessions, refs, now):
    with sessions.begin() as s:
        customers.create_customer(s, "0104", "ledger only", now=now)
    values = _metering_values(refs)
    values["accounts"] = ["0101", "0104", "0103"]
    with pytest.raises(DBAPIError, match=METERING_REFUSED) as refused:
        _insert_metering(sessions, values)
    assert _sqlstate(refused.value) == FOREIGN_KEY_VIOLATION
    assert _counts(sessions) == (0, 0)


@pytest.mark.parametrize("column", ["customers", "transactions"])
def test_an_unknown_ledger_bill_reference_between_known_ones_is_refused(sessions, refs, column):
    values = _ledger_values(refs)
    values[column] = list(refs[column])
    with pytest.raises(DBAPIError, match=LEDGER_REFUSED) as refused:
        _insert_ledger(sessions, values)
    assert _sqlstate(refused.value) == FOREIGN_KEY_VIOLATION
    assert _counts(sessions) == (0, 0)


def test_an_unknown_customer_is_refused(sessions, refs):
    values = _ledger_values(refs)
    values["customers"] = [refs["customers"][0], 999_999, refs["customers"][2]]
    with pytest.raises(DBAPIError, match=LEDGER_REFUSED) as refused:
        _insert_ledger(sessions, values)
    assert _sqlstate(refused.value) == FOREIGN_KEY_VIOLATION
    assert _counts(sessions) == (0, 0)


@pytest.mark.parametrize("column", ["accounts", "runs", "bills", "transactions"])
def test_an_unknown_metering_bill_reference_is_refused_by_copy(sessions, refs, now, column):
    values = _metering_values(refs)
    values[column] = list(refs[column])
    with pytest.raises((DBAPIError, psycopg.Error), match=METERING_REFUSED) as refused:
        _copy_metering(sessions, values, now)
    assert _sqlstate(refused.value) == FOREIGN_KEY_VIOLATION
    assert _counts(sessions) == (0, 0)


@pytest.mark.parametrize("column", ["customers", "transactions"])
def test_an_unknown_ledger_bill_reference_is_refused_by_copy(sessions, refs, now, column):
    values = _ledger_values(refs)
    values[column] = list(refs[column])
    with pytest.raises((DBAPIError, psycopg.Error), match=LEDGER_REFUSED) as refused:
        _copy_ledger(sessions, values, now)
    assert _sqlstate(refused.value) == FOREIGN_KEY_VIOLATION
    assert _counts(sessions) == (0, 0)


# -- 3. UPDATE of a reference column ------------------------------------------------------------------------------

@pytest.fixture
def bills(sessions, refs):
    """Three committed ledger bills and three metering bills with known references."""
    _insert_ledger(sessions, _ledger_values(refs))
    _insert_metering(sessions, _metering_values(refs))
    return refs


@pytest.mark.parametrize(("column", "unknown"), [
    ("account_no", "'0102'"), ("run_id", "999999"), ("customer_bill_id", "999999"), ("transaction_id", "999999")])
def test_an_update_of_a_metering_bill_to_an_unknown_reference_is_refused(sessions, bills, column, unknown):
    with pytest.raises(DBAPIError, match=METERING_REFUSED) as refused:
        with sessions.begin() as s:
            s.execute(text(f"UPDATE metering_bills SET {column} = {unknown} WHERE period = '2026-01'"))
    assert _sqlstate(refused.value) == FOREIGN_KEY_VIOLATION
    with sessions.begin() as s:
        row = s.execute(text("SELECT account_no, run_id, customer_bill_id, transaction_id FROM metering_bills "
                             "WHERE period = '2026-01'")).one()
    assert tuple(row) == ("0101", bills["runs"][0], bills["bills"][0], bills["transactions"][0])


@pytest.mark.parametrize("column", ["customer_id", "transaction_id"])
def test_an_update_of_a_ledger_bill_to_an_unknown_reference_is_refused(sessions, bills, column):
    with pytest.raises(DBAPIError, match=LEDGER_REFUSED) as refused:
        with sessions.begin() as s:
            s.execute(text(f"UPDATE customer_bills SET {column} = 999999 WHERE bill_ref = 'T1'"))
    assert _sqlstate(refused.value) == FOREIGN_KEY_VIOLATION


def test_an_update_to_known_references_and_of_other_columns_still_works(sessions, bills):
    c1, _, c3 = bills["customers"]
    with sessions.begin() as s:
        s.execute(text("UPDATE customer_bills SET outstanding = outstanding - 40 WHERE bill_ref LIKE 'T%'"))
        s.execute(text("UPDATE customer_bills SET customer_id = :c WHERE bill_ref = 'T1' AND customer_id = :old"),
                  {"c": c3, "old": c1})
        s.execute(text("UPDATE metering_bills SET issued_on = DATE '2026-11-02', run_id = :r"),
                  {"r": bills["runs"][2]})
        assert s.execute(text("SELECT sum(outstanding) FROM customer_bills WHERE bill_ref LIKE 'T%'")
                         ).scalar_one() == 180
        assert s.execute(text("SELECT count(*) FROM metering_bills WHERE run_id = :r AND issued_on = '2026-11-02'"),
                         {"r": bills["runs"][2]}).scalar_one() == 3


# -- 4. the referenced rows stay ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("statement", "table", "operation"), [
    ("DELETE FROM billing_runs WHERE id = :run", "billing_runs", "DELETE"),
    ("DELETE FROM customer_bills WHERE id = :bill", "customer_bills", "DELETE"),
    ("DELETE FROM metering_accounts WHERE account_no = '0101'", "metering_accounts", "DELETE"),
    ("UPDATE billing_runs SET id = id + 1000 WHERE id = :run", "billing_runs", "UPDATE"),
    ("UPDATE customer_bills SET id = id + 1000 WHERE id = :bill", "customer_bills", "UPDATE"),
    ("UPDATE metering_accounts SET account_no = '0109' WHERE account_no = '0101'", "metering_accounts", "UPDATE"),
    ("UPDATE customer_accounts SET id = id + 1000 WHERE account_no = '0101'", "customer_accounts", "UPDATE"),
])
def test_referenced_rows_refuse_delete_and_a_key_change(sessions, bills, statement, table, operation):
    params = {"run": bills["runs"][0], "bill": bills["bills"][0]}
    with pytest.raises(DBAPIError, match=f"{table} rows are referred to by bills: {operation} refused") as refused:
        with sessions.begin() as s:
            s.execute(text(statement), {k: v for k, v in params.items() if f":{k}" in statement})
    assert _sqlstate(refused.value) == RESTRICT_VIOLATION
    with sessions.begin() as s:
        assert s.execute(text("SELECT count(*) FROM billing_runs")).scalar_one() == 2
        assert s.execute(text("SELECT count(*) FROM customer_bills WHERE id = :bill"),
                         {"bill": bills["bills"][0]}).scalar_one() == 1
        assert s.execute(text("SELECT count(*) FROM metering_accounts WHERE account_no = '0101'")).scalar_one() == 1


def test_other_updates_of_the_referenced_rows_still_work(sessions, bills):
    run, bill = bills["runs"][0], bills["bills"][0]
    with sessions.begin() as s:
        billed = s.execute(text("SELECT accounts_billed FROM billing_runs WHERE id = :r"), {"r": run}).scalar_one()
        s.execute(text("UPDATE billing_runs SET accounts_billed = accounts_billed + 3 WHERE id = :r"), {"r": run})
        s.execute(text("UPDATE metering_accounts SET area = 'Fuzhou' WHERE account_no = '0101'"))
        s.execute(text("UPDATE customer_bills SET outstanding = 0 WHERE id = :b"), {"b": bill})
    with sessions.begin() as s:  # committed, each on its row, the references untouched
        assert s.execute(text("SELECT accounts_billed FROM billing_runs WHERE id = :r"),
                         {"r": run}).scalar_one() == billed + 3
        assert s.execute(text("SELECT area FROM metering_accounts WHERE account_no = '0101'")).scalar_one() == "Fuzhou"
        assert s.execute(text("SELECT outstanding FROM customer_bills WHERE id = :b"), {"b": bill}).scalar_one() == 0
        row = s.execute(text("SELECT account_no, run_id, customer_bill_id FROM metering_bills "
                             "WHERE period = '2026-01'")).one()
    assert tuple(row) == ("0101", run, bill)


# -- 5. down to 0010 and up again ---------------------------------------------------------------------------------

def test_the_migration_goes_down_and_up(pg):
    from alembic import command
    from alembic.config import Config

    def state() -> tuple[set[str], set[str], set[str]]:
        with pg.connect() as conn:
            keys = set(conn.execute(text(
                "SELECT conname FROM pg_constraint WHERE contype = 'f' AND conname = ANY(:names)"),
                {"names": list(FOREIGN_KEYS)}).scalars())
            triggers = set(conn.execute(text(
                "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgname = ANY(:names)"),
                {"names": list(TRIGGERS)}).scalars())
            functions = set(conn.execute(text("SELECT proname FROM pg_proc WHERE proname = ANY(:names)"),
                                         {"names": list(FUNCTIONS)}).scalars())
        return keys, triggers, functions

    assert state() == (set(), set(TRIGGERS), set(FUNCTIONS))
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with pg.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0010_outbox_delivery")
        assert state() == (set(FOREIGN_KEYS), set(), set())
        with pg.connect() as conn:  # the foreign keys are the original ones: table, column, referenced table
            defs = dict(conn.execute(text(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = ANY(:names)"),
                {"names": list(FOREIGN_KEYS)}).all())
        assert defs["metering_bills_account_no_fkey"] == \
            "FOREIGN KEY (account_no) REFERENCES metering_accounts(account_no)"
        assert defs["customer_bills_transaction_id_fkey"] == \
            "FOREIGN KEY (transaction_id) REFERENCES ledger_transactions(id)"
    finally:
        with pg.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    assert state() == (set(), set(TRIGGERS), set(FUNCTIONS))
