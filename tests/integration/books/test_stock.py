"""Consignments: stock shipped to a distributor, and who may activate it."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from vouchers.books import chart, voucher_books
from vouchers.books.accounts import normal_balance
from vouchers.books.errors import ActivationError, BatchNotFound, ConsignmentError
from vouchers.books.stock import ConsignmentResult, consign
from vouchers.books.verify import verify
from vouchers.storage.ledger_models import Consignment
from vouchers.storage.models import AuditEvent, Voucher


def _holders(session, batch) -> dict[str | None, int]:
    return dict(session.execute(select(Voucher.consigned_to, func.count()).where(Voucher.batch_pk == batch.pk)
                                .group_by(Voucher.consigned_to)).all())


def _consign(sessions, now, batch, distributor, first=None, last=None, **kwargs) -> ConsignmentResult:
    with sessions.begin() as s:
        return consign(s, batch.batch_id, distributor, batch.serial(first) if first else None,
                             batch.serial(last) if last else None, now=now, actor="carol", **kwargs)


def test_consigning_a_range_makes_it_that_distributors_stock_and_books_nothing(sessions, now, stock):
    batch = stock(count=10)
    result = _consign(sessions, now, batch, "SHOP-1", 3, 7)
    assert (result.count, result.consigned, result.moved_from) == (5, 5, {})
    assert (result.first_serial, result.last_serial) == (batch.serial(3), batch.serial(7))
    with sessions.begin() as s:
        assert _holders(s, batch) == {None: 5, "SHOP-1": 5}
        assert normal_balance(s, chart.VOUCHER_LIABILITY, "CNY") == 0
        row = s.execute(select(Consignment)).scalar_one()
        assert (row.first_sequence, row.last_sequence, row.count, row.moved, row.actor) == (3, 7, 5, 0, "carol")
        event = s.execute(select(AuditEvent).where(AuditEvent.action == "voucher.consign")).scalar_one()
        assert '"distributor_id": "SHOP-1"' in event.details and event.actor == "carol"
        assert verify(s).ok


def test_consigning_again_to_the_same_distributor_changes_nothing(sessions, now, stock):
    batch = stock(count=4)
    _consign(sessions, now, batch, "SHOP-1")
    again = _consign(sessions, now, batch, "SHOP-1", 2, 3)
    assert (again.count, again.consigned) == (2, 0)
    with sessions.begin() as s:
        assert s.execute(select(func.count()).select_from(Consignment)).scalar_one() == 1
        assert s.execute(select(func.count()).select_from(AuditEvent)
                         .where(AuditEvent.action == "voucher.consign")).scalar_one() == 1


def test_anothers_stock_moves_only_with_reassign(sessions, now, stock):
    batch = stock(count=6)
    _consign(sessions, now, batch, "SHOP-1", 1, 4)
    with pytest.raises(ConsignmentError, match="2 of 4 cards in that range are consigned to another"):
        _consign(sessions, now, batch, "SHOP-2", 3, 6)
    with sessions.begin() as s:
        assert _holders(s, batch) == {None: 2, "SHOP-1": 4}  # nothing half-done
    moved = _consign(sessions, now, batch, "SHOP-2", 3, 6, reassign=True)
    assert (moved.consigned, moved.moved_from) == (4, {"SHOP-1": 2})
    with sessions.begin() as s:
        assert _holders(s, batch) == {"SHOP-1": 2, "SHOP-2": 4}
        assert s.execute(select(Consignment.moved).order_by(Consignment.id)).scalars().all() == [0, 2]


@pytest.mark.parametrize("status", ["draft", "void", "closed"])
def test_only_issued_stock_is_consigned(sessions, now, stock, status):
    batch = stock(count=3, status=status)
    with pytest.raises(ConsignmentError, match=status):
        _consign(sessions, now, batch, "SHOP-1")


def test_sold_stock_never_moves(sessions, now, stock):
    batch = stock(count=5)
    with sessions.begin() as s:
        voucher_books.activate(s, batch.batch_id, "SHOP-1", batch.serial(1), batch.serial(2), now=now, actor="op")
    for reassign in (False, True):
        with pytest.raises(ConsignmentError, match=r"2 of 5 cards in that range are no longer in stock \(2 active\)"):
            _consign(sessions, now, batch, "SHOP-2", reassign=reassign)
    with sessions.begin() as s:
        assert _holders(s, batch) == {None: 3, "SHOP-1": 2}  # an operator's activation made them SHOP-1's


def test_bad_ranges_and_batches_are_refused(sessions, now, stock):
    batch, other = stock(count=5), stock(count=5)
    for first, last in [(batch.serial(1), None), (batch.serial(4), batch.serial(2)),
                        (other.serial(1), other.serial(2)), ("0100000100000010", batch.serial(2))]:
        with pytest.raises(ConsignmentError):
            with sessions.begin() as s:
                consign(s, batch.batch_id, "SHOP-1", first, last, now=now, actor="carol")
    with pytest.raises(BatchNotFound):
        with sessions.begin() as s:
            consign(s, "B01-999999", "SHOP-1", now=now, actor="carol")


def test_a_distributor_activates_only_its_own_consigned_stock(sessions, now, stock):
    batch = stock(count=8)
    _consign(sessions, now, batch, "SHOP-1", 1, 4)
    _consign(sessions, now, batch, "SHOP-2", 5, 6)
    refusal = "that range is not all in your stock"
    for first, last in [(5, 5), (7, 7), (4, 5), (1, 8)]:  # another's, unconsigned, straddling, everything
        with pytest.raises(ActivationError, match=refusal) as raised:
            with sessions.begin() as s:
                voucher_books.activate(s, batch.batch_id, "SHOP-1", batch.serial(first), batch.serial(last),
                                       now=now, actor="SHOP-1", own_stock_only=True)
        assert "SHOP-2" not in str(raised.value) and "inactive" not in str(raised.value)
    with sessions.begin() as s:
        sold = voucher_books.activate(s, batch.batch_id, "SHOP-1", batch.serial(1), batch.serial(4), now=now,
                                      actor="SHOP-1", own_stock_only=True)
    assert sold.count == 4
    with pytest.raises(ActivationError, match=r"not inactive \(1 active\)"):  # its own stock: details are fine
        with sessions.begin() as s:
            voucher_books.activate(s, batch.batch_id, "SHOP-1", batch.serial(4), batch.serial(4), now=now,
                                   actor="SHOP-1", own_stock_only=True)


def test_an_operator_activates_unconsigned_stock_but_not_anothers(sessions, now, stock):
    batch = stock(count=6)
    _consign(sessions, now, batch, "SHOP-2", 5, 6)
    with pytest.raises(ActivationError, match="2 of 6 cards in that range are consigned to another distributor"):
        with sessions.begin() as s:
            voucher_books.activate(s, batch.batch_id, "SHOP-1", now=now, actor="op")
    with sessions.begin() as s:
        voucher_books.activate(s, batch.batch_id, "SHOP-1", batch.serial(1), batch.serial(4), now=now, actor="op")
        voucher_books.activate(s, batch.batch_id, "SHOP-2", batch.serial(5), batch.serial(6), now=now, actor="op")
    with sessions.begin() as s:
        assert _holders(s, batch) == {"SHOP-1": 4, "SHOP-2": 2}
        rows = s.execute(select(Voucher.distributor_id, Voucher.consigned_to).where(Voucher.batch_pk == batch.pk))
        assert all(seller == holder for seller, holder in rows)
        assert verify(s).ok


def test_migration_makes_sold_cards_their_sellers_stock(sessions, engine, now, stock):
    from alembic import command
    from sqlalchemy import inspect, text

    from vouchers.storage.migrate import _config, upgrade_to_head

    batch = stock(count=4)
    config = _config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0013_bill_refs_by_range")
        assert "consigned_to" not in {c["name"] for c in inspect(engine).get_columns("vouchers")}
        with engine.begin() as connection:  # sold before consignments existed
            connection.execute(text("UPDATE vouchers SET status = 'active', distributor_id = 'SHOP-9' "
                                    "WHERE batch_pk = :b AND sequence <= 2"), {"b": batch.pk})
    finally:
        upgrade_to_head(engine)
    with sessions.begin() as s:
        assert _holders(s, batch) == {"SHOP-9": 2, None: 2}
        assert s.execute(select(func.count()).select_from(Consignment)).scalar_one() == 0


# -- mutation survivors (issue 26, docs/testing.md) ---------------------------------------------------------------

def test_a_range_is_of_its_own_batch_only(sessions, now, stock):
    # the same sequence numbers exist in every batch: consigning 2..4 of one must not touch another's
    batch, other = stock(count=5), stock(count=5)
    result = _consign(sessions, now, batch, "SHOP-1", 2, 4)
    assert (result.batch_id, result.distributor_id, result.consigned) == (batch.batch_id, "SHOP-1", 3)
    with sessions.begin() as s:
        assert _holders(s, batch) == {None: 2, "SHOP-1": 3}
        assert _holders(s, other) == {None: 5}
        stamped = s.execute(select(Voucher.updated_at).where(Voucher.batch_pk == batch.pk,
                                                             Voucher.consigned_to == "SHOP-1")).scalars().all()
    assert len(stamped) == 3 and all(t is not None and t == now for t in stamped)


@pytest.mark.parametrize("first, last", [(2, None), (None, 2), (4, 2)])
def test_a_range_must_be_whole_and_in_order(sessions, now, stock, first, last):
    batch = stock(count=5)
    with pytest.raises(ConsignmentError) as info:
        _consign(sessions, now, batch, "SHOP-1", first, last)
    expected = (f"--from {batch.serial(4)} comes after --to {batch.serial(2)}" if first and last else
                "give both --from and --to (the same serial for one card), or neither")
    assert str(info.value) == expected


def test_a_serial_past_the_end_of_the_batch_is_not_in_it(sessions, now, stock):
    batch = stock(count=5)
    with pytest.raises(ConsignmentError) as info:
        _consign(sessions, now, batch, "SHOP-1", 1, 6)
    assert str(info.value) == f"--to serial {batch.serial(6)} is not in batch {batch.batch_id}"
