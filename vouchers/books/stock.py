"""Whose stock a card is: serial ranges of a batch, and consignments (stock shipped to a distributor).

A card belongs to the distributor it was consigned to (``vouchers.consigned_to``),
set when an issuer operator ships stock (:func:`consign`) or when an operator
activates unconsigned stock for a distributor. A distributor acting for itself
(its API client) may activate only its own stock, so a till's key cannot make
cards redeemable that were shipped to someone else or are still in the vault.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from vouchers.books.distributors import ensure_distributor
from vouchers.books.errors import BatchNotFound, ConsignmentError, LedgerError
from vouchers.books.timeutil import utc
from vouchers.storage import audit
from vouchers.storage.ledger_models import Consignment
from vouchers.storage.ledger_models import vouchers_lifecycle as V
from vouchers.storage.models import Batch
from vouchers.errors import InvalidSerial
from vouchers.lifecycle import ISSUED_BATCH_STATES
from vouchers.serials import Serial


@dataclass(frozen=True)
class SerialRange:
    """Cards ``first..last`` (sequence numbers, inclusive) of one batch."""

    batch: Batch
    first: int
    last: int

    @property
    def count(self) -> int:
        return self.last - self.first + 1

    @property
    def first_serial(self) -> str:
        return str(Serial(self.batch.issuer_code, self.batch.id, self.first))

    @property
    def last_serial(self) -> str:
        return str(Serial(self.batch.issuer_code, self.batch.id, self.last))

    def where(self) -> ColumnElement[bool]:
        return and_(V.c.batch_pk == self.batch.id, V.c.sequence.between(self.first, self.last))


def serial_range(session: Session, batch_id: str, from_serial: str | None, to_serial: str | None,
                 error: type[LedgerError]) -> SerialRange:
    """The batch's cards ``from_serial..to_serial`` (default: the whole batch); bad ranges raise ``error``."""
    batch = session.execute(select(Batch).where(Batch.batch_id == batch_id)).scalar_one_or_none()
    if batch is None:
        raise BatchNotFound(f"no batch {batch_id!r}")
    if (from_serial is None) != (to_serial is None):
        raise error("give both --from and --to (the same serial for one card), or neither")
    if from_serial is None or to_serial is None:
        return SerialRange(batch, 1, batch.count)
    first, last = _sequence_in(batch, from_serial, "--from", error), _sequence_in(batch, to_serial, "--to", error)
    if first > last:
        raise error(f"--from {from_serial} comes after --to {to_serial}")
    return SerialRange(batch, first, last)


def _sequence_in(batch: Batch, serial_text: str, label: str, error: type[LedgerError]) -> int:
    try:
        serial = Serial.parse(serial_text)
    except InvalidSerial as e:
        raise error(f"{label} serial {serial_text!r} is not a valid serial") from e
    if serial.batch_number != batch.id or serial.issuer != batch.issuer_code or serial.sequence > batch.count:
        raise error(f"{label} serial {serial_text} is not in batch {batch.batch_id}")
    return serial.sequence


@dataclass(frozen=True)
class RangeCensus:
    """The cards of a range by status, and how many of them are whose."""

    by_status: Mapping[str, int]
    owned: int  # consigned to the distributor asked about
    unconsigned: int

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    @property
    def others(self) -> int:
        """Cards consigned to another distributor."""
        return self.total - self.owned - self.unconsigned

    def not_inactive(self) -> str | None:
        """``"2 active, 1 void"`` if any card of the range is past inactive, else None."""
        past = {s: n for s, n in self.by_status.items() if s != "inactive"}
        if not past:
            return None
        return ", ".join(f"{n} {s}" for s, n in sorted(past.items()))


def census(session: Session, cards: SerialRange, distributor_id: str) -> RangeCensus:
    """One grouped read of the range: statuses, and the cards consigned to ``distributor_id`` or to no one."""
    rows = session.execute(
        select(V.c.status, func.count(), func.count().filter(V.c.consigned_to == distributor_id),
               func.count().filter(V.c.consigned_to.is_(None)))
        .where(cards.where()).group_by(V.c.status)).all()
    return RangeCensus({status: n for status, n, _, _ in rows}, sum(r[2] for r in rows), sum(r[3] for r in rows))


# --- consignments ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConsignmentResult:
    batch_id: str
    distributor_id: str
    first_serial: str
    last_serial: str
    count: int  # cards in the range
    consigned: int  # of which newly this distributor's (0: the range was its stock already)
    moved_from: dict[str, int]  # with --reassign: cards taken from other distributors, by distributor


def consign(session: Session, batch_id: str, distributor_id: str, from_serial: str | None = None,
            to_serial: str | None = None, *, now: dt.datetime, actor: str, reassign: bool = False
            ) -> ConsignmentResult:
    """Ship a range (default: the whole batch) of inactive, issued stock to ``distributor_id``.

    All or nothing. Cards already consigned to another distributor are
    refused unless ``reassign`` (stock returned and sent elsewhere); sold
    (activated), redeemed or void cards never move. Consigning a range that
    is this distributor's already changes nothing.
    """
    cards = serial_range(session, batch_id, from_serial, to_serial, ConsignmentError)
    if cards.batch.status not in ISSUED_BATCH_STATES:
        raise ConsignmentError(f"batch {batch_id} is {cards.batch.status}: only approved, printed or shipped "
                               "stock can be consigned")
    distributor = ensure_distributor(session, distributor_id, now)
    found = census(session, cards, distributor_id)
    if found.total != cards.count:
        raise ConsignmentError(f"batch {batch_id} has {found.total} of the {cards.count} cards in that range")
    past = found.not_inactive()
    if past is not None:
        raise ConsignmentError(f"{cards.count - found.by_status.get('inactive', 0)} of {cards.count} cards in that "
                               f"range are no longer in stock ({past}); nothing consigned")
    if found.others and not reassign:
        raise ConsignmentError(f"{found.others} of {cards.count} cards in that range are consigned to another "
                               "distributor; nothing consigned (--reassign moves them)")
    result = ConsignmentResult(batch_id, distributor_id, cards.first_serial, cards.last_serial, cards.count,
                               cards.count - found.owned, _holders(session, cards, distributor_id) if found.others
                               else {})
    if result.consigned == 0:
        return result
    at = utc(now)
    changed = session.execute(
        update(V).where(cards.where(), V.c.status == "inactive",
                        V.c.consigned_to.is_(None) if not reassign else
                        V.c.consigned_to.is_distinct_from(distributor_id))
        .values(consigned_to=distributor_id, updated_at=at)).rowcount
    if changed != result.consigned:  # someone changed a card between our census and the update
        raise ConsignmentError(f"only {changed} of {result.consigned} cards could be consigned (concurrent change); "
                               "nothing consigned")
    session.execute(insert(Consignment.__table__).values(
        batch_pk=cards.batch.id, distributor_pk=distributor.id, first_sequence=cards.first,
        last_sequence=cards.last, count=result.consigned, moved=sum(result.moved_from.values()),
        consigned_at=at, actor=actor))
    audit.record(session, now=at, actor=actor, action="voucher.consign", subject_type="batch", subject_id=batch_id,
                 from_state="inactive", to_state="inactive", details={
                     "distributor_id": distributor_id, "first_serial": cards.first_serial,
                     "last_serial": cards.last_serial, "count": result.consigned, "moved_from": result.moved_from})
    return result


def _holders(session: Session, cards: SerialRange, distributor_id: str) -> dict[str, int]:
    rows = session.execute(
        select(V.c.consigned_to, func.count())
        .where(cards.where(), V.c.consigned_to.is_not(None), V.c.consigned_to != distributor_id)
        .group_by(V.c.consigned_to).order_by(V.c.consigned_to)).all()
    return {holder: n for holder, n in rows}
