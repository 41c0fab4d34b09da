"""PostgreSQL's fast path never accepts what the reference parser refuses, and types lines alike."""
from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from vouchers.books.csvformat import PaymentLine, read_generic
from vouchers.books.staging import STAGE, stage_file

HEADER = "external_ref,account_no,amount,currency,paid_at\n"

refs = st.sampled_from(["AP-1", "a b", " x", "x ", "", "中文", "t\tab", "x" * 64, "x" * 65, "R,1", "ok.ref_9"])
accounts = st.sampled_from(["0101", "-01", "01-", "ab_c", "", "0" * 32, "0" * 33, "A-9"])
amounts = st.sampled_from(["1", "1.5", "1.50", "0.01", "0", "0.00", "00.10", "1.001", "-1", "1e3", "1,00",
                           "999999999999999.99", "1000000000000000", ".5", "1.", "99999999.99", "100000000.00",
                           "100000000.01"])
currencies = st.sampled_from(["CNY", "cny", "USD", "JPY", "XXX", ""])
times = st.sampled_from(["2026-11-25T10:00:00+08:00", "2026-11-25 10:00", "2026-11-25T10:00:00Z",
                         "2026-02-29T10:00:00Z", "2024-02-29T23:59:59.999999+08:00", "2026-04-31T00:00:00Z",
                         "2026-11-25T24:00:00Z", "2026-11-25T10:00:00+15:00", "2026-11-25T10:00:00+0530",
                         "2026-11-25T10:00:00+08", "0999-01-01T00:00:00Z", "2026-11-25", "yesterday",
                         "2026-13-01T00:00:00Z", "2026-11-25T10:60:00Z"])


@pytest.mark.postgres
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=st.tuples(refs, accounts, amounts, currencies, times))
def test_fast_path_is_never_more_lenient(pg_engine, tmp_path_factory, fields):
    import csv

    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(fields)
    body = (HEADER + buffer.getvalue()).encode("utf-8")
    path = tmp_path_factory.mktemp("fast") / "f.csv"
    path.write_bytes(body)
    reference = list(read_generic(io.BytesIO(body)))
    with pg_engine.connect() as conn:
        from sqlalchemy.orm import Session

        with Session(conn) as session, session.begin():
            fast, _ = stage_file(session, path, "Asia/Shanghai")
            row = session.execute(text(f"SELECT external_ref, account_no, amount, currency, paid_at FROM {STAGE}")
                                  ).one_or_none() if fast else None
            session.rollback()
    if fast:
        (line,) = reference
        assert isinstance(line, PaymentLine), (fields, line)
        assert (row.external_ref, row.account_no, row.amount, row.currency, row.paid_at) == \
            (line.external_ref, line.account_no, line.amount, line.currency, line.paid_at)


@pytest.mark.postgres
@pytest.mark.parametrize("paid_at", ["2026-11-25T10:00:00+08:00", "2026-11-25 10:00", "2026-11-25T10:00:00-0530",
                                     "2024-02-29T23:59:59.5Z"])
def test_ordinary_files_take_the_fast_path(pg_engine, tmp_path, paid_at):
    path = tmp_path / "f.csv"
    path.write_text(HEADER + f"R1,0101,12.5,CNY,{paid_at}\n", encoding="utf-8")
    (expected,) = list(read_generic(io.BytesIO(path.read_bytes())))
    with pg_engine.connect() as conn:
        from sqlalchemy.orm import Session

        with Session(conn) as session, session.begin():
            fast, _ = stage_file(session, path, "Asia/Shanghai")
            staged = session.execute(text(f"SELECT amount, paid_at FROM {STAGE}")).one()
            session.rollback()
    assert fast
    assert (staged.amount, staged.paid_at) == (expected.amount, expected.paid_at)
