"""vouchers.storage.db: what the engines it builds put in their errors."""
from __future__ import annotations

import logging

import pytest
from sqlalchemy import exc, text

from vouchers.storage import hot_sql

SECRET = "31415926535897932384"  # shaped like a voucher code: must never reach an error message or a log
_FAILS = text("SELECT 1 AS n FROM no_such_table WHERE name = :secret")


@pytest.mark.parametrize("run", [
    pytest.param(lambda session: session.execute(_FAILS, {"secret": SECRET}), id="sqlalchemy"),
    pytest.param(lambda session: hot_sql.rows(session, _FAILS, {"secret": SECRET}), id="hot_sql"),
])
def test_database_errors_never_carry_bound_parameters(sessions, run, caplog):
    with sessions() as session:
        session.begin()
        with pytest.raises(exc.DBAPIError) as raised:
            run(session)
        session.rollback()
    logging.getLogger("test").exception("failed", exc_info=raised.value)
    assert raised.value.orig is not None and "no_such_table" in str(raised.value)
    assert SECRET not in str(raised.value) and SECRET not in repr(raised.value)
    assert SECRET not in caplog.text
