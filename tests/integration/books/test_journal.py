"""The journal: balanced, idempotent, immutable, reversible once."""
from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from vouchers.books import accounts, chart, journal
from vouchers.books.errors import (
    BalanceOutOfRange,
    IdempotencyConflict,
    InvalidPosting,
    ReversalNotAllowed,
    UnbalancedTransaction,
)
from vouchers.books.verify import verify


def _post(session, ref: str, now, amount: int = 500, kind: str = "remittance") -> journal.Posted:
    entry = journal.Entry(kind=kind, source="test", external_ref=ref, occurred_at=now,
                          legs=(journal.debit(chart.BANK, amount, "CNY"),
                                journal.credit(chart.distributor("D1"), amount, "CNY")))
    return journal.post(session, entry, now=now)


def test_post_moves_stored_balances_and_stays_derivable(sessions, now):
    with sessions.begin() as s:
        posted = _post(s, "r1", now)
        assert posted.created
    with sessions.begin() as s:
        assert accounts.balance(s, chart.BANK, "CNY") == 500
        assert accounts.balance(s, chart.distributor("D1"), "CNY") == -500
        assert accounts.normal_balance(s, chart.distributor("D1"), "CNY") == -500
        assert verify(s).ok


def test_a_balance_moved_past_64_bits_is_refused_and_nothing_is_booked(sessions, now, engine):
    with sessions.begin() as s:
        _post(s, "r1", now)
        s.execute(text("UPDATE ledger_accounts SET balance = :b WHERE code = :c"),
                  {"b": -(2**63 - 1) + 100, "c": chart.distributor("D1")})
    # SQLite would store the sum as a float without a word: the books refuse it themselves
    expected = DBAPIError if engine.dialect.name == "postgresql" else BalanceOutOfRange
    with pytest.raises(expected):
        with sessions.begin() as s:
            _post(s, "r2", now, amount=500)
    with sessions.begin() as s:
        assert accounts.balance(s, chart.distributor("D1"), "CNY") == -(2**63 - 1) + 100
        assert accounts.balance(s, chart.BANK, "CNY") == 500
        assert journal.find(s, "test", "r2") is None


def test_same_reference_same_legs_returns_the_original(sessions, now):
    with sessions.begin() as s:
        first = _post(s, "r1", now)
    with sessions.begin() as s:
        again = _post(s, "r1", now)
        assert again == journal.Posted(first.transaction_id, False)
        assert accounts.balance(s, chart.BANK, "CNY") == 500


def test_same_reference_other_legs_is_a_conflict_and_books_nothing(sessions, now):
    with sessions.begin() as s:
        _post(s, "r1", now)
    with pytest.raises(IdempotencyConflict):
        with sessions.begin() as s:
            _post(s, "r1", now, amount=501)
    with sessions.begin() as s:
        assert accounts.balance(s, chart.BANK, "CNY") == 500


@pytest.mark.parametrize("legs", [
    (journal.debit(chart.BANK, 5, "CNY"), journal.credit(chart.REVENUE, 4, "CNY")),
    (journal.debit(chart.BANK, 5, "CNY"),),
    (journal.debit(chart.BANK, 5, "CNY"), journal.credit(chart.BANK, 5, "CNY")),
    (journal.debit(chart.BANK, 5, "CNY"), journal.credit(chart.REVENUE, 5, "USD")),
])
def test_unbalanced_entries_are_refused(sessions, now, legs):
    with pytest.raises(UnbalancedTransaction):
        with sessions.begin() as s:
            journal.post(s, journal.Entry("remittance", "test", "bad", legs, now), now=now)


def test_amounts_must_be_integers():
    with pytest.raises(InvalidPosting):
        journal.debit(chart.BANK, 1.5, "CNY")  # type: ignore[arg-type]
    with pytest.raises(InvalidPosting):
        journal.debit(chart.BANK, True, "CNY")  # type: ignore[arg-type]


def test_reversal_mirrors_once(sessions, now):
    from vouchers.books.corrections import reverse_transaction

    with sessions.begin() as s:
        posted = _post(s, "r1", now)
    with sessions.begin() as s:
        reversal = reverse_transaction(s, posted.transaction_id, now=now, actor="finance", reason="typo")
        assert accounts.balance(s, chart.BANK, "CNY") == 0
    with pytest.raises(ReversalNotAllowed, match="already reversed"):
        with sessions.begin() as s:
            reverse_transaction(s, posted.transaction_id, now=now, actor="finance", reason="again")
    with pytest.raises(ReversalNotAllowed, match="itself a reversal"):
        with sessions.begin() as s:
            reverse_transaction(s, reversal.transaction_id, now=now, actor="finance", reason="undo")
    with sessions.begin() as s:
        assert verify(s).ok


def test_lifecycle_kinds_are_not_reversed_by_hand(sessions, now):
    from vouchers.books.corrections import reverse_transaction

    with sessions.begin() as s:
        posted = _post(s, "r1", now, kind="activation")
    with pytest.raises(ReversalNotAllowed):
        with sessions.begin() as s:
            reverse_transaction(s, posted.transaction_id, now=now, actor="finance", reason="no")


@pytest.mark.parametrize("statement", [
    "UPDATE ledger_postings SET amount = amount + 1",
    "DELETE FROM ledger_postings",
    "UPDATE ledger_transactions SET memo = 'edited'",
    "DELETE FROM ledger_transactions",
])
def test_the_database_refuses_edits_of_the_journal(sessions, now, statement):
    with sessions.begin() as s:
        _post(s, "r1", now)
    with pytest.raises(DBAPIError, match="append-only"):
        with sessions.begin() as s:
            s.execute(text(statement))


def test_postgres_refuses_an_unbalanced_commit_and_late_postings(sessions, now, engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("zero-sum inside the database is PostgreSQL's job (SQLite: single write path + verify)")
    with sessions.begin() as s:
        first = _post(s, "r1", now)
        bank = accounts.ensure_account(s, chart.BANK, "CNY", now)
    with pytest.raises(DBAPIError, match="does not balance"):
        with sessions.begin() as s:
            tid, _ = journal.claim(s, kind="remittance", source="test", external_ref="raw", occurred_at=now,
                                   now=now)
            s.execute(text("INSERT INTO ledger_postings (transaction_id, line, account_id, currency, amount) "
                           "VALUES (:t, 1, :a, 'CNY', 7)"), {"t": tid, "a": bank})
    with pytest.raises(DBAPIError, match="earlier database transaction"):
        with sessions.begin() as s:
            s.execute(text("INSERT INTO ledger_postings (transaction_id, line, account_id, currency, amount) "
                           "VALUES (:t, 9, :a, 'CNY', 7)"), {"t": first.transaction_id, "a": bank})
    with sessions.begin() as s:
        assert verify(s).ok
