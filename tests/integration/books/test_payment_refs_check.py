"""PostgreSQL: the statement trigger that stands in for the foreign keys of ``payments`` (migration 0009).

One pass reads the distinct customers and the lowest and highest journal
transaction, import and reconciliation of the rows; a statement whose rows
carry several values of one of them must still have every value checked.
"""
from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from vouchers.books import customers, payments
from vouchers.storage.migrate import MIGRATIONS

REFUSED = "unknown customer, journal transaction, import or reconciliation"

# three rows in one statement, the i-th with the i-th element of each array
_INSERT = text(
    "INSERT INTO payments (channel, external_ref, customer_id, amount, currency, applied_to_arrears, balance_after, "
    "  paid_at, transaction_id, import_id, status) "
    "SELECT 'alipay', 'T' || g, (CAST(:customers AS bigint[]))[g], 100, 'CNY', 0, 0, now(), "
    "  (CAST(:transactions AS bigint[]))[g], (CAST(:imports AS int[]))[g], 'booked' FROM generate_series(1, 3) g")


@pytest.fixture
def pg(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("on SQLite the foreign keys of payments check these references")
    return engine


def _transaction_ids_with_a_gap(sessions, now) -> tuple[int, int, int]:
    """Journal transactions a and a + 2 exist; a + 1 was rolled back (its id is never used)."""
    ids = []
    for ref in ("P1", "P2", "P3"):
        with sessions() as s:
            s.begin()
            p = payments.post_payment(s, "alipay", "0101", 100, ref, now, now)
            ids.append(s.execute(text("SELECT transaction_id FROM payments WHERE id = :id"),
                                 {"id": p.payment_id}).scalar_one())
            s.rollback() if ref == "P2" else s.commit()
    assert ids[1] == ids[0] + 1 and ids[2] == ids[0] + 2
    return ids[0], ids[1], ids[2]


def _import_ids_with_a_gap(sessions, now) -> tuple[int, int, int]:
    insert = text("INSERT INTO payment_imports (channel, file_name, file_sha256, lines, booked, duplicates, amount, "
                  "imported_at, actor) VALUES ('alipay', 'f', 'x', 0, 0, 0, 0, :now, 't') RETURNING id")
    ids = []
    for keep in (True, False, True):
        with sessions() as s:
            s.begin()
            ids.append(s.execute(insert, {"now": now}).scalar_one())
            s.commit() if keep else s.rollback()
    return ids[0], ids[1], ids[2]


@pytest.fixture
def refs(pg, sessions, now):
    with sessions.begin() as s:
        a = customers.create_customer(s, "0101", "张三", now=now)
        b = customers.create_customer(s, "0102", "李四", now=now)
        ids = s.execute(text("SELECT id FROM customer_accounts WHERE account_no IN ('0101', '0102') "
                             "ORDER BY account_no")).scalars().all()
    assert a and b
    return {"customers": ids, "transactions": _transaction_ids_with_a_gap(sessions, now),
            "imports": _import_ids_with_a_gap(sessions, now)}


def _insert(sessions, customer_ids, transaction_ids, import_ids) -> None:
    with sessions.begin() as s:
        s.execute(_INSERT, {"customers": list(customer_ids), "transactions": list(transaction_ids),
                            "imports": list(import_ids)})


def test_rows_with_known_references_go_in(sessions, refs):
    c1, c2 = refs["customers"]
    t1, _, t3 = refs["transactions"]
    i1, _, i3 = refs["imports"]
    _insert(sessions, [c1, c2, c1], [t1, t3, t3], [i1, i3, None])
    with sessions.begin() as s:
        assert s.execute(text("SELECT count(*) FROM payments WHERE external_ref LIKE 'T%'")).scalar_one() == 3


@pytest.mark.parametrize("column", ["customers", "transactions", "imports"])
def test_an_unknown_reference_between_known_ones_is_refused(sessions, refs, column):
    c1, c2 = refs["customers"]
    t1, t2, t3 = refs["transactions"]
    i1, i2, i3 = refs["imports"]
    values = {"customers": [c1, c2, c1], "transactions": [t1, t3, t3], "imports": [i1, None, i3]}
    # the middle row's reference does not exist (t2, i2: rolled back); the lowest and highest of the statement do
    values[column] = {"customers": [c1, 999_999, c2], "transactions": [t1, t2, t3], "imports": [i1, i2, i3]}[column]
    with pytest.raises(DBAPIError, match=REFUSED) as refused:
        _insert(sessions, values["customers"], values["transactions"], values["imports"])
    assert refused.value.orig.sqlstate == "23503"  # foreign_key_violation, as before
    with sessions.begin() as s:
        assert s.execute(text("SELECT count(*) FROM payments WHERE external_ref LIKE 'T%'")).scalar_one() == 0


def test_an_update_to_an_unknown_reconciliation_is_refused(sessions, refs):
    with pytest.raises(DBAPIError, match=REFUSED):
        with sessions.begin() as s:
            s.execute(text("UPDATE payments SET reconciliation_id = 999999 WHERE external_ref = 'P1'"))


def test_the_migration_goes_down_and_up(pg):
    from alembic import command
    from alembic.config import Config

    def body() -> str:
        with pg.connect() as conn:
            return conn.execute(text("SELECT prosrc FROM pg_proc WHERE proname = 'ledger_check_payment_refs'")
                                ).scalar_one()

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with pg.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0008_ledger_fillfactor")
        assert "array_agg" not in body() and "DISTINCT customer_id" in body()
    finally:
        with pg.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    assert "array_agg(DISTINCT customer_id)" in body()
