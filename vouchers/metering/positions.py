"""Where accounts stand, read set-based for a batch of accounts at a time.

A :class:`Position` is everything billing, cost control and the kWh figures
need about one account: its tariff terms, its ledger balances, the readings
not yet billed and the kWh already billed per tariff period. Billing, cost
control and the collection warnings all read positions in batches of a few
thousand accounts with a handful of queries per batch (never one query per
account).
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, Integer, bindparam, exists, func, or_, select, text
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from vouchers.books.sql import is_postgres
from vouchers.books.timeutil import end_of_day, from_db, start_of_day
from vouchers.metering.bulk import fetch_rows, fetch_shaped
from vouchers.metering.config import MeteringConfig
from vouchers.metering.pricing import ReadingUse
from vouchers.metering.units import from_kwh
from vouchers.storage.ledger_models import CustomerAccount, LedgerAccount, LedgerTransaction
from vouchers.storage.metering_models import MeteringAccount, MeteringBill, MeterReading
from vouchers.storage.sts_models import StsMeter, StsVend
from vouchers.tariffs import Tariff
from vouchers.tariffs.errors import TariffError


@dataclass(slots=True)
class Position:
    account_no: str
    tariff_id: str
    customer_class: str
    payment_mode: str
    low_income: bool
    time_of_use: bool
    large_customer: bool
    area: str
    meter_no: str
    supply_start: dt.date | None
    supply_end: dt.date | None
    warning_threshold: int | None
    customer_id: int
    currency: str
    arrears_account_id: int
    prepaid_account_id: int
    # an active STS keypad meter (vending.meters): credited by tokens, so its readings are never billed,
    # estimated or watched by cost control. Read only with ``select_accounts(..., keypad=True)``.
    keypad: bool = False
    prepaid_fen: int = 0  # normal side: positive = the customer's money with us
    arrears_fen: int = 0  # unpaid bills
    last_close: dt.date | None = None  # closing date of the latest bill (set when readings are unbilled)
    unbilled: tuple[ReadingUse, ...] = ()
    used_by_period: dict[tuple[str, dt.date], int] = field(default_factory=dict)
    # accounts with a keypad meter, in service or taken out: the credit vended in the last year as (local
    # vend date, kWh hundredths), not reversed. It places the account in its tariff period: the customer
    # bought those kWh at the tier prices (a meter in service: in place of its readings, which may be
    # missing or late; one taken out: beside the billed kWh, see used_in_periods).
    vended: tuple[ReadingUse, ...] = ()

    def used_in_periods(self, tariff: Tariff) -> dict[tuple[str, dt.date], int]:
        """kWh hundredths counted per tariff period before the unbilled readings: the billed kWh and, for an
        account whose keypad meter was taken out of service, the kWh vended to it (bought at the tier prices
        of their period; a keypad meter in service counts them through :attr:`period_uses` instead)."""
        if self.keypad or not self.vended:
            return self.used_by_period
        merged = dict(self.used_by_period)
        for use in self.vended:
            try:
                start = tariff.version_for(use.reading_date).period_for(use.reading_date).start
            except TariffError:  # no version in force that day: that purchase was not priced by this tariff
                continue
            merged[(tariff.id, start)] = merged.get((tariff.id, start), 0) + use.kwh_ckwh
        return merged

    @property
    def period_uses(self) -> tuple[ReadingUse, ...]:
        """What counts towards the account's position in its tariff period beyond its billed kWh:
        the unbilled readings, or for a keypad meter the kWh vended to it."""
        return self.vended if self.keypad else self.unbilled

    @property
    def net_balance_fen(self) -> int:
        """Prepaid balance minus arrears: what the customer has (negative: owes)."""
        return self.prepaid_fen - self.arrears_fen


_ACCOUNT_COLUMNS = (
    MeteringAccount.account_no, MeteringAccount.tariff_id, MeteringAccount.customer_class,
    MeteringAccount.payment_mode, MeteringAccount.low_income, MeteringAccount.time_of_use,
    MeteringAccount.large_customer, MeteringAccount.area, MeteringAccount.meter_no, MeteringAccount.supply_start,
    MeteringAccount.supply_end, MeteringAccount.warning_threshold, CustomerAccount.id, CustomerAccount.currency,
    CustomerAccount.arrears_account_id, CustomerAccount.prepaid_account_id,
)
def keypad(account_no: ColumnElement[str]) -> ColumnElement[bool]:
    """EXISTS an active STS keypad meter for ``account_no`` (vending.meters.find_meter's rule)."""
    return exists().where(StsMeter.account_no == account_no, StsMeter.active.is_(True))


def prepaid(account_no: ColumnElement[str]) -> ColumnElement[bool]:
    """EXISTS a prepaid tariff assignment for ``account_no`` (by primary key)."""
    return exists().where(MeteringAccount.account_no == account_no, MeteringAccount.payment_mode == "prepaid")


# Position.keypad, folded into the account query (billing reads it per batch itself: it is left out there)
_KEYPAD = keypad(MeteringAccount.account_no).label("keypad")


def _accounts_statement(shape: tuple[bool, ...], values: dict[str, Any]):  # type: ignore[no-untyped-def]
    """The accounts query of :func:`select_accounts`, with a named bind parameter per option used
    (holding ``values``: a statement kept by :func:`vouchers.metering.bulk.fetch_shaped` gets new ones each time)."""
    after, upto, payment_mode, not_billed_for, limit, keypad = shape

    def param(name: str, **kw: Any):  # type: ignore[no-untyped-def]
        return bindparam(name, values[name], **kw)

    stmt = (select(*_ACCOUNT_COLUMNS, *((_KEYPAD,) if keypad else ()))
            .join(CustomerAccount, CustomerAccount.account_no == MeteringAccount.account_no)
            .order_by(MeteringAccount.account_no))
    if after:
        # on both sides of the join: the planner does not carry an inequality across it, and a merge
        # join would otherwise read every customer account before ``after`` again, batch after batch
        stmt = stmt.where(MeteringAccount.account_no > param("after"),
                          CustomerAccount.account_no > param("after"))
    if upto:
        stmt = stmt.where(MeteringAccount.account_no <= param("upto"),
                          CustomerAccount.account_no <= param("upto"))
    if payment_mode:
        stmt = stmt.where(MeteringAccount.payment_mode == param("payment_mode"))
    if not_billed_for:
        billed = select(MeteringBill.id).where(MeteringBill.account_no == MeteringAccount.account_no,
                                               MeteringBill.period == param("not_billed_for"))
        stmt = stmt.where(~billed.exists())
    if limit:
        stmt = stmt.limit(param("limit", type_=Integer))
    return stmt


def select_accounts(session: Session, *, after: str | None = None, upto: str | None = None,
                    limit: int | None = None,
                    account_nos: Sequence[str] | None = None, payment_mode: str | None = None,
                    not_billed_for: str | None = None, keypad: bool = False) -> list[Position]:
    """Accounts in account-number order (keyset ``after``, up to and including ``upto``), without
    balances or readings; ``keypad``: also read :attr:`Position.keypad` (else it is False)."""
    options = {"after": after, "upto": upto, "payment_mode": payment_mode, "not_billed_for": not_billed_for,
               "limit": limit}
    params = {name: value for name, value in options.items() if value is not None}
    shape = (after is not None, upto is not None, payment_mode is not None, not_billed_for is not None,
             limit is not None, keypad)
    if account_nos is None:
        rows = fetch_shaped(session, ("positions.accounts", *shape), lambda: _accounts_statement(shape, params),
                            params)
    else:
        rows = fetch_rows(session, _accounts_statement(shape, params).where(
            MeteringAccount.account_no.in_(list(account_nos))))
    return [Position(*row) for row in rows]


class Scope:
    """Which accounts a batch covers: a contiguous account-number range (a
    keyset batch, queried with BETWEEN on the indexes) or an explicit list."""

    def __init__(self, positions: Sequence[Position], *, contiguous: bool) -> None:
        self.numbers = [p.account_no for p in positions]
        self.contiguous = contiguous and bool(self.numbers)
        self._values: dict[str, Any] = {}

    def where(self, column):  # type: ignore[no-untyped-def]
        if self.contiguous:  # named parameters: the same statement serves every batch (:meth:`fetch`)
            return column.between(bindparam("scope_lo", self.numbers[0]), bindparam("scope_hi", self.numbers[-1]))
        return column.in_(self.numbers)

    def param(self, name: str, **kw: Any):  # type: ignore[no-untyped-def]
        """A named bind parameter for a statement built by :meth:`fetch`, holding the value given there."""
        return bindparam(name, self._values[name], **kw)

    def fetch(self, session: Session, key: str, build: Callable[[Scope], Any],
              **params: Any) -> list[tuple[Any, ...]]:
        """The rows of ``build(scope)``, a SELECT restricted with :meth:`where` whose other values are
        :meth:`param` (``params``). A range is one statement shape, built and compiled once per
        process (:func:`vouchers.metering.bulk.fetch_shaped`, which fills in the values of each call); a list
        is built every time."""
        self._values = params
        if self.contiguous:
            return fetch_shaped(session, ("positions.scope", key), lambda: build(self),
                                {"scope_lo": self.numbers[0], "scope_hi": self.numbers[-1], **params})
        return fetch_rows(session, build(self))


def lock(session: Session, positions: Sequence[Position], extra_ids: Sequence[int] = (), *,
         scope: Scope | None = None) -> dict[int, int]:
    """Lock the customers' balance rows (per-party rows, and ``extra_ids``, which must
    be per-party too) in ascending id order and return their stored balances
    (id -> debits - credits; rows whose balance is zero may be left out: read them with ``.get(id, 0)``).

    The same order as every writer of the books (:func:`vouchers.books.accounts.lock_accounts`:
    per-party rows during the transaction, shared rows only at commit), so a billing
    batch and a payment can wait for each other but never deadlock. SQLite has a
    single writer and needs no row locks. ``scope`` is accepted for the callers'
    convenience and not needed: the rows are found by id.
    """
    if not positions and not extra_ids:
        return {}
    ids = sorted({p.arrears_account_id for p in positions} | {p.prepaid_account_id for p in positions}
                 | set(extra_ids))
    if is_postgres(session):
        # the ids as one array parameter: an index lookup per row, whatever the size of the books
        # (an IN (subquery) OR IN (list) condition was planned as a scan of every ledger account)
        # (an array literal: cheaper to build than the driver's element-by-element adaptation). Every row
        # is locked, in id order (MATERIALIZED: all of them, whatever the outer query reads); only the
        # balances that are not zero come back, the others are zero.
        literal = "{" + ",".join(map(str, ids)) + "}"
        return {int(i): int(b) for i, b in fetch_rows(session, text(
            "WITH locked AS MATERIALIZED (SELECT id, balance FROM ledger_accounts "
            "WHERE id = ANY(CAST(:ids AS bigint[])) ORDER BY id FOR NO KEY UPDATE) "
            "SELECT id, balance FROM locked WHERE balance <> 0").bindparams(ids=literal))}
    found: dict[int, int] = {}
    for start in range(0, len(ids), 900):  # SQLite: no row locks (one writer); read in chunks of parameters
        chunk = ids[start:start + 900]
        found.update((int(i), int(b)) for i, b in session.connection().execute(
            select(LedgerAccount.id, LedgerAccount.balance).where(LedgerAccount.id.in_(chunk))).all())
    return found


def apply_balances(positions: Sequence[Position], balances: dict[int, int]) -> None:
    """Set each position's prepaid balance and arrears from stored balances (see :func:`lock`)."""
    for p in positions:
        p.arrears_fen = balances.get(p.arrears_account_id, 0)
        p.prepaid_fen = -balances.get(p.prepaid_account_id, 0)


def fill(session: Session, positions: Sequence[Position], *, cutoff: dt.date, scope: Scope | None = None,
         tz: dt.tzinfo | None = None) -> None:
    """Balances, the last closing date, unbilled readings up to ``cutoff``,
    kWh billed per tariff period and, for keypad meters, the kWh vended (dated in
    ``tz``), for every position (in place)."""
    fill_balances(session, positions, scope=scope)
    fill_usage(session, positions, cutoff=cutoff, scope=scope, tz=tz)


def fill_balances(session: Session, positions: Sequence[Position], *, scope: Scope | None = None) -> None:
    """Prepaid balance and arrears of every position, from the books' stored balances."""
    if not positions:
        return
    by_no = {p.account_no: p for p in positions}
    scope = scope or Scope(positions, contiguous=False)
    for account_no, owed, held in scope.fetch(session, "balances", _balances_statement):
        p = by_no.get(account_no)
        if p is not None:
            p.arrears_fen = int(owed)
            p.prepaid_fen = -int(held)


def _balances_statement(scope: Scope):  # type: ignore[no-untyped-def]
    arrears = aliased(LedgerAccount)
    prepaid = aliased(LedgerAccount)
    return (select(CustomerAccount.account_no, arrears.balance, prepaid.balance)
            .join(arrears, arrears.id == CustomerAccount.arrears_account_id)
            .join(prepaid, prepaid.id == CustomerAccount.prepaid_account_id)
            .where(scope.where(CustomerAccount.account_no)))


def fill_usage(session: Session, positions: Sequence[Position], *, cutoff: dt.date, scope: Scope | None = None,
               tz: dt.tzinfo | None = None) -> None:
    """The last closing date, unbilled readings up to ``cutoff``, kWh billed per tariff period and, for
    keypad meters, the kWh vended (:func:`fill_vended`)."""
    if not positions:
        return
    by_no = {p.account_no: p for p in positions}
    scope = scope or Scope(positions, contiguous=False)
    for p in positions:
        p.last_close, p.unbilled, p.used_by_period = None, (), {}
    keypad_ends = keypad_service_ends(session, scope, tz=tz)
    fill_vended(session, [p for p in positions if p.keypad or p.account_no in keypad_ends], cutoff=cutoff, tz=tz)
    rows = scope.fetch(session, "unbilled", _unbilled_statement, cutoff=cutoff)
    unbilled: dict[str, list[ReadingUse]] = defaultdict(list)
    for account_no, day, kwh, peak, valley, last_close in rows:
        uses = unbilled[account_no]
        if not uses and account_no in by_no:
            by_no[account_no].last_close = last_close
        uses.append(ReadingUse(day, kwh, peak, valley))
    for account_no, ended in keypad_ends.items():  # readings of a keypad meter's service were paid by tokens
        p, uses = by_no.get(account_no), unbilled.get(account_no)
        if p is None or not uses:
            continue
        kept = unbilled[account_no] = [u for u in uses if u.reading_date > ended]
        # the day the keypad meter stopped closes like a bill (last_close: only beside unbilled readings)
        p.last_close = (ended if p.last_close is None else max(p.last_close, ended)) if kept else None
    for account_no, uses in unbilled.items():
        if account_no in by_no:
            by_no[account_no].unbilled = tuple(uses)

    # A tariff period lasts at most a year: older bills never count.
    earliest = dt.date(cutoff.year - 1, cutoff.month, 1)
    for account_no, tariff_id, start, kwh in scope.fetch(session, "billed_kwh", _billed_kwh_statement,
                                                         earliest=earliest):
        if account_no in by_no:
            by_no[account_no].used_by_period[(tariff_id, start)] = int(kwh)


def _unbilled_statement(scope: Scope):  # type: ignore[no-untyped-def]
    """Readings up to ``:cutoff`` after the latest bill's closing date, with that date."""
    last = (select(MeteringBill.account_no.label("account_no"),
                   func.max(MeteringBill.closing_date).label("last_close"))
            .where(scope.where(MeteringBill.account_no)).group_by(MeteringBill.account_no).subquery())
    r = aliased(MeterReading)
    return (select(r.account_no, r.reading_date, r.kwh_ckwh, r.peak_kwh_ckwh, r.valley_kwh_ckwh, last.c.last_close)
            .outerjoin(last, last.c.account_no == r.account_no)
            .where(scope.where(r.account_no), r.reading_date <= scope.param("cutoff", type_=Date),
                   or_(last.c.last_close.is_(None), r.reading_date > last.c.last_close))
            .order_by(r.account_no, r.reading_date, r.id))


def _billed_kwh_statement(scope: Scope):  # type: ignore[no-untyped-def]
    """kWh billed per account and tariff period, for periods starting on or after ``:earliest``."""
    return (select(MeteringBill.account_no, MeteringBill.tariff_id, MeteringBill.tariff_period_start,
                   func.sum(MeteringBill.period_kwh_ckwh))
            .where(scope.where(MeteringBill.account_no),
                   MeteringBill.tariff_period_start >= scope.param("earliest", type_=Date))
            .group_by(MeteringBill.account_no, MeteringBill.tariff_id, MeteringBill.tariff_period_start))


def keypad_service_ends(session: Session, scope: Scope, *, tz: dt.tzinfo | None = None) -> dict[str, dt.date]:
    """Account -> the local day its keypad meter was last taken out of service (accounts of ``scope``
    with a deactivated STS meter). Energy read up to that day was bought with tokens: like a bill's
    closing date, it is where billing and the prepaid estimate start again."""
    tz = tz or MeteringConfig().tz
    return {account_no: from_db(when).astimezone(tz).date()
            for account_no, when in scope.fetch(session, "keypad_ends", _keypad_ends_statement)}


def _keypad_ends_statement(scope: Scope):  # type: ignore[no-untyped-def]
    return (select(StsMeter.account_no, func.max(StsMeter.deactivated_at))
            .where(scope.where(StsMeter.account_no), StsMeter.active.is_(False), StsMeter.deactivated_at.is_not(None))
            .group_by(StsMeter.account_no))


def fill_vended(session: Session, positions: Sequence[Position], *, cutoff: dt.date,
                tz: dt.tzinfo | None = None) -> None:
    """The credit vended to the keypad-meter ``positions`` in the year up to ``cutoff`` (all their meters,
    credit tokens whose energy sale was not reversed), dated in ``tz`` (default: the metering time zone)."""
    for p in positions:
        p.vended = ()
    if not positions:
        return
    tz = tz or MeteringConfig().tz
    earliest = dt.date(cutoff.year - 1, cutoff.month, 1)
    by_no = {p.account_no: p for p in positions}
    reversal = aliased(LedgerTransaction)
    vended: dict[str, list[ReadingUse]] = defaultdict(list)
    for account_no, when, kwh in session.connection().execute(
            select(StsVend.account_no, StsVend.vended_at, StsVend.tariff_kwh)
            .outerjoin(reversal, (reversal.reverses_id == StsVend.ledger_transaction_id)
                       & (reversal.kind == "reversal"))
            .where(StsVend.account_no.in_(list(by_no)), StsVend.kind == "credit", StsVend.tariff_kwh.is_not(None),
                   StsVend.vended_at >= start_of_day(earliest, tz), StsVend.vended_at < end_of_day(cutoff, tz),
                   reversal.id.is_(None))
            .order_by(StsVend.account_no, StsVend.vended_at, StsVend.id)).all():
        vended[account_no].append(ReadingUse(from_db(when).astimezone(tz).date(), from_kwh(Decimal(kwh))))
    for account_no, uses in vended.items():
        by_no[account_no].vended = tuple(uses)


def load(session: Session, account_nos: Sequence[str], *, cutoff: dt.date,
         tz: dt.tzinfo | None = None) -> list[Position]:
    """Filled positions of the given accounts (unknown or unassigned accounts are left out)."""
    positions = select_accounts(session, account_nos=account_nos, keypad=True)
    fill(session, positions, cutoff=cutoff, tz=tz)
    return positions


__all__ = ["Position", "Scope", "apply_balances", "fill", "fill_balances", "fill_usage", "fill_vended",
           "keypad_service_ends", "load", "lock", "select_accounts"]
