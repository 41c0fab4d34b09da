"""What the voucher lifecycle books.

- activation (sale): Dr distributor (face - commission), Dr expense:commission,
  Cr voucher_liability (face) - one transaction and one audit event per range;
- redemption: Dr voucher_liability; Cr arrears oldest bill first, rest Cr prepaid;
- expiry: Dr voucher_liability, Cr income:breakage;
- void of activated stock: the sale reversed (Dr liability, Cr distributor, Cr commission).

Voucher rows are changed with conditional set-based UPDATEs (never one ORM
object per card) so 100,000 cards activate in one statement.
"""
from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import bindparam, insert, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from vouchers.books import chart, journal, stock
from vouchers.books.accounts import ensure_account
from vouchers.books.allocation import allocate
from vouchers.books.customers import get_customer
from vouchers.books.distributors import commission_for, ensure_distributor
from vouchers.as_of import refuse_future
from vouchers.books.errors import ActivationError, CurrencyMismatch, InvalidExpiryDate, RedemptionBookingError
from vouchers.books.incoming import move_bills, open_bills, record_allocations
from vouchers.books.payments import get_payment
from vouchers.books.sql import is_postgres
from vouchers.books.timeutil import from_db, local_date, utc
from vouchers.storage import audit, hot_sql
from vouchers.storage.ledger_models import TS, Distributor, LedgerAccount, LedgerTransaction, Payment, VoucherActivation
from vouchers.storage.ledger_models import vouchers_lifecycle as V
from vouchers.storage.models import Batch
from vouchers.lifecycle import ISSUED_BATCH_STATES

REDEMPTION_SOURCE = "redemption"


# --- activation -------------------------------------------------------------------------------


class NotYourStock(ActivationError):
    """A distributor asked for cards not all consigned to it: said the same way whoever holds them."""


@dataclass(frozen=True)
class ActivationResult:
    batch_id: str
    distributor_id: str
    first_serial: str
    last_serial: str
    count: int
    face_value: int
    currency: str
    face_total: int
    commission_total: int
    receivable: int  # what the distributor owes: face_total - commission_total
    transaction_id: int


def activate(session: Session, batch_id: str, distributor_id: str, from_serial: str | None = None,
             to_serial: str | None = None, *, now: dt.datetime, actor: str,
             own_stock_only: bool = False) -> ActivationResult:
    """Activate a sold range (default: the whole batch) for ``distributor_id``.

    Only stock of approved/printed/shipped batches, only if every card of the
    range is still inactive (all or nothing), and so only once. Cards
    consigned to another distributor are refused; unconsigned ones become
    ``distributor_id``'s stock. ``own_stock_only`` (the distributor itself
    asks, over the API): every card must have been consigned to it, and a
    refusal says nothing about cards that are not.
    """
    cards = stock.serial_range(session, batch_id, from_serial, to_serial, ActivationError)
    batch, expected = cards.batch, cards.count
    found = stock.census(session, cards, distributor_id)
    if own_stock_only and found.owned != expected:
        raise NotYourStock("that range is not all in your stock (cards consigned to you); nothing activated")
    if batch.status not in ISSUED_BATCH_STATES:
        raise ActivationError(f"batch {batch_id} is {batch.status}: only approved, printed or shipped stock "
                              "can be activated")
    if found.total != expected:
        raise ActivationError(f"batch {batch_id} has {found.total} of the {expected} cards in that range")
    past = found.not_inactive()
    if past is not None:
        raise ActivationError(f"{expected - found.by_status.get('inactive', 0)} of {expected} cards in that range "
                              f"are not inactive ({past}); nothing activated")
    if found.others:
        raise ActivationError(f"{found.others} of {expected} cards in that range are consigned to another "
                              "distributor; nothing activated")
    distributor = ensure_distributor(session, distributor_id, now)
    face, currency = batch.face_value, batch.currency
    commission_each = commission_for(face, distributor.commission_bp)
    face_total, commission_total = face * expected, commission_each * expected
    at = utc(now)
    changed = session.execute(
        update(V).where(cards.where(), V.c.status == "inactive",
                        or_(V.c.consigned_to.is_(None), V.c.consigned_to == distributor_id))
        .values(status="active", distributor_id=distributor_id, consigned_to=distributor_id, activated_at=at,
                updated_at=at)).rowcount
    if changed != expected:  # someone else changed a card between our count and update
        raise ActivationError(f"only {changed} of {expected} cards could be activated (concurrent change); "
                              "nothing activated")
    first, last = cards.first, cards.last
    first_serial, last_serial = cards.first_serial, cards.last_serial
    legs = [journal.credit(chart.VOUCHER_LIABILITY, face_total, currency)]
    if face_total - commission_total:
        legs.append(journal.debit(chart.distributor(distributor_id), face_total - commission_total, currency))
    if commission_total:
        legs.append(journal.debit(chart.COMMISSION, commission_total, currency))
    posted = journal.post(session, journal.Entry(
        kind="activation", source="activation", external_ref=f"{batch_id}:{first}-{last}", legs=tuple(legs),
        occurred_at=now, actor=actor, memo=f"sale of {expected} cards {first_serial}..{last_serial}"), now=now)
    session.execute(insert(VoucherActivation.__table__).values(
        batch_pk=batch.id, distributor_pk=distributor.id, first_sequence=first, last_sequence=last, count=expected,
        face_value=face, commission_each=commission_each, currency=currency, transaction_id=posted.transaction_id,
        activated_at=at, actor=actor))
    audit.record(session, now=at, actor=actor, action="voucher.activate", subject_type="batch", subject_id=batch_id,
                 from_state="inactive", to_state="active", details={
                     "count": expected, "first_serial": first_serial, "last_serial": last_serial,
                     "distributor_id": distributor_id, "face_total": face_total,
                     "commission_total": commission_total, "transaction_id": posted.transaction_id})
    return ActivationResult(batch_id, distributor_id, first_serial, last_serial, expected, face, currency,
                            face_total, commission_total, face_total - commission_total, posted.transaction_id)


# --- redemption -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RedemptionBooking:
    transaction_id: int
    voucher_id: int
    serial: str
    account_no: str
    amount: int
    currency: str
    applied_to_arrears: int
    credited_to_balance: int
    balance: int  # the customer's prepaid balance right after this redemption
    created: bool  # False: this voucher was already booked (replay)


def _voucher_id(voucher: object) -> int:
    if isinstance(voucher, bool):
        raise RedemptionBookingError("not a voucher")
    if isinstance(voucher, int):
        return voucher
    vid = getattr(voucher, "id", None)
    if not isinstance(vid, int):
        raise RedemptionBookingError("pass a voucher id or a voucher row")
    return vid


def claim_for_redemption(session: Session, voucher: object, *, today: dt.date, now: dt.datetime) -> bool:
    """The hot path's conditional update: active and valid through ``today`` -> redeemed.

    True if this caller won the card. The web API may use its own equivalent.
    No audit event here: audit events come after the books (see :func:`redeem`).
    """
    vid = _voucher_id(voucher)
    at = utc(now)
    return session.execute(
        update(V).where(V.c.id == vid, V.c.status == "active", V.c.expires >= today)
        .values(status="redeemed", redeemed_at=at, updated_at=at)).rowcount == 1


def redeem(session: Session, voucher: object, account_no: str, *, today: dt.date, now: dt.datetime,
           actor: str) -> RedemptionBooking:
    """Claim, book and audit one redemption (the CLI, tests and any caller without its own hot path).

    Raises :class:`RedemptionBookingError` (code ``invalid_voucher`` semantics) if the card is not active
    and valid today.
    """
    if not claim_for_redemption(session, voucher, today=today, now=now):
        raise RedemptionBookingError("voucher is not active and valid today")
    booking = redeem_voucher(session, voucher, account_no, now=now, actor=actor)
    audit.record(session, now=utc(now), actor=actor, action="voucher.redeem", subject_type="voucher",
                 subject_id=booking.serial, from_state="active", to_state="redeemed",
                 details={"account_no": account_no, "transaction_id": booking.transaction_id})
    return booking


def redeem_voucher(session: Session, voucher: object, account_no: str, *, now: dt.datetime,
                   actor: str | None = None) -> RedemptionBooking:
    """Book a redemption the caller has already claimed (voucher status ``redeemed``).

    Dr voucher_liability (face); Cr the account's arrears oldest bill first,
    the rest Cr its prepaid balance. Idempotent per voucher: a second call for
    the same account returns the original booking; another account raises.
    """
    vid = _voucher_id(voucher)
    row = session.execute(select(V.c.id, V.c.serial, V.c.status, V.c.face_value, V.c.currency, V.c.activated_at)
                          .where(V.c.id == vid)).one_or_none()
    if row is None:
        raise RedemptionBookingError(f"no voucher with id {vid}")
    if row.status != "redeemed":
        raise RedemptionBookingError(f"voucher {row.serial} is {row.status}: claim it (conditional update to "
                                     "redeemed) before booking")
    customer = get_customer(session, account_no)
    return book_claimed_redemption(
        session, ClaimedVoucher(row.id, row.serial, row.face_value, row.currency, row.activated_at),
        Payee(customer.id, customer.account_no, customer.currency, customer.arrears_account_id,
              customer.prepaid_account_id), now=now, actor=actor)


@dataclass(frozen=True, slots=True)
class ClaimedVoucher:
    """A voucher its caller has just moved ``active -> redeemed`` (e.g. ``UPDATE ... RETURNING``)."""

    id: int
    serial: str
    face_value: int
    currency: str
    activated_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class Payee:
    """The customer account a redemption credits, with its two balance rows."""

    id: int
    account_no: str
    currency: str
    arrears_account_id: int
    prepaid_account_id: int


# The hot path's statements, built once (redemptions run hundreds of times a second).
_LA = LedgerAccount.__table__
_LOCK_PAYEE = (select(_LA.c.id, _LA.c.balance)
               .where(or_(_LA.c.id == bindparam("arrears"), _LA.c.id == bindparam("prepaid")))
               .order_by(_LA.c.id).with_for_update(key_share=True))  # FOR NO KEY UPDATE; nothing on SQLite
_PAYMENT = (insert(Payment.__table__)
            .values(channel="voucher", external_ref=bindparam("serial"), customer_id=bindparam("customer_id"),
                    amount=bindparam("amount"), currency=bindparam("currency"), applied_to_arrears=bindparam("applied"),
                    balance_after=bindparam("balance_after"), paid_at=bindparam("at", type_=TS()), status="booked",
                    transaction_id=bindparam("transaction_id"))
            .returning(Payment.__table__.c.id))


def _claim_statement(dialect):  # type: ignore[no-untyped-def]
    table = LedgerTransaction.__table__
    return (dialect.insert(table)
            .values(kind="redemption", source=REDEMPTION_SOURCE, external_ref=bindparam("ref"),
                    occurred_at=bindparam("at", type_=TS()), posted_at=bindparam("at", type_=TS()),
                    actor=bindparam("actor"), memo=bindparam("memo"))
            .on_conflict_do_nothing(index_elements=["source", "external_ref"])
            .returning(table.c.id))


_CLAIM_TRANSACTION = {"postgresql": _claim_statement(postgresql), "sqlite": _claim_statement(sqlite)}
# PostgreSQL: what _CLAIM_TRANSACTION, journal.add_postings and _PAYMENT write, as one statement (a
# redemption is one round trip and one statement's triggers fewer times three); nothing if claimed before.
_BOOK_REDEMPTION_POSTGRES = text(
    "WITH t AS ("
    "  INSERT INTO ledger_transactions (kind, source, external_ref, occurred_at, posted_at, actor, memo) "
    f"  VALUES ('redemption', '{REDEMPTION_SOURCE}', :ref, :at, :at, :actor, :memo) "
    "  ON CONFLICT (source, external_ref) DO NOTHING RETURNING id), "
    "postings AS ("
    "  INSERT INTO ledger_postings (transaction_id, line, account_id, currency, amount) "
    "  SELECT t.id, p.line, p.account_id, p.currency, p.amount FROM t, "
    "    unnest(CAST(:lines AS integer[]), CAST(:accounts AS bigint[]), CAST(:currencies AS varchar[]), "
    "           CAST(:amounts AS bigint[])) AS p(line, account_id, currency, amount)), "
    "balances AS ("
    "  UPDATE ledger_accounts AS a SET balance = a.balance + d.delta "
    "  FROM t, unnest(CAST(:party_ids AS bigint[]), CAST(:party_deltas AS bigint[])) AS d(id, delta) "
    "  WHERE a.id = d.id), "
    "payment AS ("
    "  INSERT INTO payments (channel, external_ref, customer_id, amount, currency, applied_to_arrears, "
    "    balance_after, paid_at, transaction_id, status) "
    "  SELECT 'voucher', :serial, :customer_id, :amount, :currency, :applied, :balance_after, :at, t.id, 'booked' "
    "  FROM t RETURNING id) "
    "SELECT t.id, (SELECT id FROM payment) FROM t"
).bindparams(bindparam("at", type_=TS()))


def book_claimed_redemption(session: Session, voucher: ClaimedVoucher, payee: Payee, *, now: dt.datetime,
                            actor: str | None = None, liability_account_id: int | None = None) -> RedemptionBooking:
    """The books of one claimed voucher, in as few statements as the rules allow.

    Same entry, same lock order and same idempotency as :func:`vouchers.books.incoming.book_incoming`
    (per-party rows locked first, in id order; the shared liability row moved
    at commit by :func:`vouchers.books.journal.defer_shared_deltas`), but the locking read also
    returns the two balances: the open bills are read only if the account has
    arrears, and the prepaid balance after booking is computed, not re-read.
    On PostgreSQL the header, postings, the payee's balances and the payments
    row are then one statement (:func:`_write_redemption_postgres`).
    ``liability_account_id`` (the ``voucher_liability`` row of the currency),
    if the caller already looked it up, saves one more statement.
    """
    if voucher.activated_at is None:
        raise RedemptionBookingError(f"voucher {voucher.serial} was never activated: no liability to redeem")
    if payee.currency != voucher.currency:
        raise CurrencyMismatch(f"voucher {voucher.serial} is in {voucher.currency}, account {payee.account_no} in "
                               f"{payee.currency}")
    currency, amount = voucher.currency, voucher.face_value
    if liability_account_id is None:
        liability_account_id = ensure_account(session, chart.VOUCHER_LIABILITY, currency, now)
    balances = dict(hot_sql.rows(session, _LOCK_PAYEE, {"arrears": payee.arrears_account_id,
                                                        "prepaid": payee.prepaid_account_id}))
    # arrears (debit balance) = the sum of the open bills: no arrears, no bills to read
    bills = open_bills(session, payee.id) if balances[payee.arrears_account_id] != 0 else []
    allocation = allocate(amount, bills)
    arrears_code, prepaid_code = chart.customer_arrears(payee.account_no), chart.customer_prepaid(payee.account_no)
    legs = [journal.debit(chart.VOUCHER_LIABILITY, amount, currency)]
    if allocation.to_arrears:
        legs.append(journal.credit(arrears_code, allocation.to_arrears, currency))
    if allocation.to_prepaid:
        legs.append(journal.credit(prepaid_code, allocation.to_prepaid, currency))
    plan = journal.plan_postings(session, legs, {
        (chart.VOUCHER_LIABILITY, currency): liability_account_id,
        (arrears_code, currency): payee.arrears_account_id,
        (prepaid_code, currency): payee.prepaid_account_id,
    })
    # prepaid is a liability (credit-normal): positive = the customer's money; the row is locked by us
    balance = allocation.to_prepaid - int(balances[payee.prepaid_account_id])
    at = utc(now)
    header = {"ref": f"voucher:{voucher.id}", "at": at, "actor": actor, "memo": f"voucher {voucher.serial}"}
    payment = {"serial": voucher.serial, "customer_id": payee.id, "amount": amount, "currency": currency,
               "applied": allocation.to_arrears, "balance_after": balance, "at": at}
    if is_postgres(session):
        booked = _write_redemption_postgres(session, header, plan, payment)
        if booked is None:  # booked before: return the original (or refuse another account)
            return _booked_before(session, voucher, payee)
        transaction_id, payment_id = booked
    else:
        transaction_id = session.execute(_CLAIM_TRANSACTION["sqlite"], header).scalar_one_or_none()
        if transaction_id is None:
            return _booked_before(session, voucher, payee)
        journal.write_postings(session, transaction_id, plan)
        payment_id = session.execute(_PAYMENT, {**payment, "transaction_id": transaction_id}).scalar_one()
    move_bills(session, allocation.to_bills)
    record_allocations(session, transaction_id, allocation.to_bills, payment_id=payment_id)
    return RedemptionBooking(transaction_id, voucher.id, voucher.serial, payee.account_no, amount, currency,
                             allocation.to_arrears, allocation.to_prepaid, balance, True)


def _write_redemption_postgres(session: Session, header: dict, plan: journal.PostingPlan,
                               payment: dict) -> tuple[int, int] | None:
    """PostgreSQL: the journal header, its postings, the payee's balance rows and the payments row in ONE
    statement (data-modifying CTEs, each depending on the header): (transaction id, payment id), or None
    if the voucher's transaction exists already (then nothing was written). The shared liability row
    moves at commit (:func:`vouchers.books.journal.defer_shared_deltas`)."""
    lines, accounts, currencies, amounts = (list(column) for column in zip(*plan.rows))
    party = sorted(plan.party_deltas.items())
    row = hot_sql.one_or_none(session, _BOOK_REDEMPTION_POSTGRES, {
        **header, **payment, "lines": lines, "accounts": accounts, "currencies": currencies, "amounts": amounts,
        "party_ids": [a for a, _ in party], "party_deltas": [d for _, d in party],
    })
    if row is None:
        return None
    if plan.shared_deltas:
        journal.defer_shared_deltas(session, plan.shared_deltas)
    return int(row[0]), int(row[1])


def _booked_before(session: Session, voucher: ClaimedVoucher, payee: Payee) -> RedemptionBooking:
    existing = get_payment(session, "voucher", voucher.serial)
    if existing is None:  # pragma: no cover - the journal and the payments row are written together
        raise RedemptionBookingError(f"voucher {voucher.serial} is in the journal without its payment")
    if existing.customer_id != payee.id:
        raise RedemptionBookingError(f"voucher {voucher.serial} was already booked to another account")
    return RedemptionBooking(existing.transaction_id, voucher.id, voucher.serial, payee.account_no, existing.amount,
                             existing.currency, existing.applied_to_arrears,
                             existing.amount - existing.applied_to_arrears, existing.balance_after, False)


# --- expiry -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpiryResult:
    as_of: dt.date
    count: int
    amounts: dict[str, int]  # currency -> face value moved to breakage
    by_batch: dict[str, int]  # batch id -> cards expired
    transaction_ids: tuple[int, ...]


def expire_vouchers(session: Session, as_of: dt.date, now: dt.datetime, *, actor: str = "expiry-job",
                    tz: str | dt.tzinfo | None = None) -> ExpiryResult:
    """Active cards whose last valid day is before ``as_of`` -> expired; Dr liability, Cr breakage.

    ``as_of`` may not be after the business today (``now`` in ``tz``): a card is valid through its last day.
    """
    refuse_future(as_of, local_date(now, tz), what="as-of date", consequence="cards valid until then would expire",
                  error=InvalidExpiryDate)
    at = utc(now)
    rows = session.execute(
        update(V).where(V.c.status == "active", V.c.expires < as_of)
        .values(status="expired", expired_at=at, updated_at=at)
        .returning(V.c.id, V.c.batch_pk, V.c.currency, V.c.face_value)).all()
    if not rows:
        return ExpiryResult(as_of, 0, {}, {}, ())
    amounts: dict[str, int] = defaultdict(int)
    first_id: dict[str, int] = {}
    per_batch: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for vid, batch_pk, currency, face in rows:
        amounts[currency] += face
        first_id[currency] = min(first_id.get(currency, vid), vid)
        per_batch[batch_pk][0] += 1
        per_batch[batch_pk][1] += face
    transaction_ids = []
    for currency, amount in sorted(amounts.items()):
        posted = journal.post(session, journal.Entry(
            kind="expiry", source="expiry", external_ref=f"{as_of.isoformat()}:{currency}:{first_id[currency]}",
            legs=(journal.debit(chart.VOUCHER_LIABILITY, amount, currency),
                  journal.credit(chart.BREAKAGE, amount, currency)),
            occurred_at=now, actor=actor, memo=f"cards expired before {as_of.isoformat()}"), now=now)
        transaction_ids.append(posted.transaction_id)
    names = dict(session.execute(select(Batch.id, Batch.batch_id).where(Batch.id.in_(list(per_batch)))).all())
    for batch_pk, (count, amount) in sorted(per_batch.items()):
        audit.record(session, now=at, actor=actor, action="voucher.expire", subject_type="batch",
                     subject_id=names[batch_pk], from_state="active", to_state="expired",
                     reason=f"unredeemed after last valid day (before {as_of.isoformat()})",
                     details={"count": count, "face_total": amount})
    return ExpiryResult(as_of, len(rows), dict(amounts), {names[b]: c for b, (c, _) in per_batch.items()},
                        tuple(transaction_ids))


# --- void -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VoidResult:
    batch_pk: int
    count: int
    face_total: int
    commission_total: int
    transaction_ids: tuple[int, ...]


def reverse_liability_for_void(session: Session, batch_pk: int, now: dt.datetime, actor: str = "batch-void"
                               ) -> VoidResult:
    """Reverse the sale of the batch's activated, unredeemed cards as it is voided.

    Call it in the same transaction as the void, before or after the voucher
    statuses change: it books every card of the batch that was activated, is
    active or void, and whose liability was not reversed yet (``voided_at``
    unset), and stamps ``voided_at``. Calling it twice books nothing new.
    """
    at = utc(now)
    rows = session.execute(
        update(V).where(V.c.batch_pk == batch_pk, V.c.activated_at.is_not(None), V.c.voided_at.is_(None),
                        V.c.status.in_(("active", "void")))
        .values(voided_at=at, updated_at=at)
        .returning(V.c.id, V.c.sequence, V.c.face_value, V.c.currency)).all()
    if not rows:
        return VoidResult(batch_pk, 0, 0, 0, ())
    activations = session.execute(
        select(VoucherActivation.first_sequence, VoucherActivation.last_sequence,
               VoucherActivation.commission_each, Distributor.distributor_id)
        .join(Distributor, Distributor.id == VoucherActivation.distributor_pk)
        .where(VoucherActivation.batch_pk == batch_pk).order_by(VoucherActivation.first_sequence)).all()
    starts = [a.first_sequence for a in activations]
    face_by_currency: dict[str, int] = defaultdict(int)
    commission_by_currency: dict[str, int] = defaultdict(int)
    receivable: dict[tuple[str, str], int] = defaultdict(int)
    first_id = min(r.id for r in rows)
    for row in rows:
        i = bisect.bisect_right(starts, row.sequence) - 1
        if i < 0 or activations[i].last_sequence < row.sequence:
            raise ActivationError(f"voucher {row.id} is active but no activation covers it")
        commission = activations[i].commission_each
        face_by_currency[row.currency] += row.face_value
        commission_by_currency[row.currency] += commission
        receivable[(row.currency, activations[i].distributor_id)] += row.face_value - commission
    transaction_ids = []
    for currency, face_total in sorted(face_by_currency.items()):
        legs = [journal.debit(chart.VOUCHER_LIABILITY, face_total, currency)]
        legs += [journal.credit(chart.distributor(d), amount, currency)
                 for (c, d), amount in sorted(receivable.items()) if c == currency and amount]
        if commission_by_currency[currency]:
            legs.append(journal.credit(chart.COMMISSION, commission_by_currency[currency], currency))
        posted = journal.post(session, journal.Entry(
            kind="void", source="void", external_ref=f"batch:{batch_pk}:{currency}:{first_id}", legs=tuple(legs),
            occurred_at=now, actor=actor, memo=f"sale reversed: {len(rows)} activated cards voided"), now=now)
        transaction_ids.append(posted.transaction_id)
    batch_id = session.execute(select(Batch.batch_id).where(Batch.id == batch_pk)).scalar_one()
    audit.record(session, now=at, actor=actor, action="voucher.void_liability", subject_type="batch",
                 subject_id=batch_id, from_state="active", to_state="void",
                 details={"count": len(rows), "face_total": sum(face_by_currency.values()),
                          "commission_total": sum(commission_by_currency.values())})
    return VoidResult(batch_pk, len(rows), sum(face_by_currency.values()), sum(commission_by_currency.values()),
                      tuple(transaction_ids))


def activated_at(session: Session, voucher_id: int) -> dt.datetime | None:
    return from_db(session.execute(select(V.c.activated_at).where(V.c.id == voucher_id)).scalar_one_or_none())
