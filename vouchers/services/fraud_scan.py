"""``voucherctl fraud scan``: every rule over a time range, as a scheduled job.

The inline rules are decided by the same :func:`vouchers.services.fraud_rules.decide`
as inside the money-in flow; their rolling-window counts come from one pass
over the range's payments in time order (one range read on ``paid_at``, a day
before ``since`` read to warm the windows), so the scan costs O(rows in the
range), never all history. The rules that look at a whole day or activation
(bulk same-day redemption, reversal rate, refund after use) are one grouped,
indexed query each. An alert the inline check (or an earlier scan) recorded is
not recorded twice (its ``(rule, event)`` key is unique); alerts of the scan
are ``alert``s: the money has moved already.
"""
from __future__ import annotations

import bisect
import datetime as dt
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field, replace
from typing import Any
import zoneinfo

from sqlalchemy import Integer, String, and_, cast, false, func, select
from sqlalchemy.orm import Session

from vouchers.books.corrections import PAYMENT_REVERSAL_SOURCE
from vouchers.books.sql import is_postgres
from vouchers.storage.api_models import ApiClient, FraudHold, Redemption
from vouchers.storage.ledger_models import CustomerAccount, Distributor, LedgerTransaction, Payment, VoucherActivation
from vouchers.storage.ledger_models import vouchers_lifecycle as V
from vouchers.storage.models import Batch
from vouchers.storage.staff_models import StaffAccount
from vouchers.storage.sts_models import StsVend
from vouchers.services import fraud_engine
from vouchers.services.fraud_config import FraudConfig
from vouchers.services.fraud_rules import (ALERT, REVERSAL_BASELINE_DAYS, RULES, Event, Facts, Hit, decide,
                                           is_just_under, is_quick, reversal_rate_days)

DAY, HOUR = dt.timedelta(days=1), dt.timedelta(hours=1)
BASELINE_DAYS = REVERSAL_BASELINE_DAYS
OPERATOR_HISTORY_DAYS = 7  # an operator-day is judged once the books hold a week of payments before it
REFUND_LOOKBACK = dt.timedelta(days=60)


@dataclass
class ScanResult:
    since: dt.datetime
    until: dt.datetime
    events: int = 0
    hits: Counter[str] = field(default_factory=Counter)
    recorded: int = 0
    flagged: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # rule -> event keys

    def as_json(self) -> dict[str, Any]:
        return {"since": self.since.isoformat(), "until": self.until.isoformat(), "events": self.events,
                "hits": dict(sorted(self.hits.items())), "recorded": self.recorded}


def scan(session: Session, *, since: dt.datetime, until: dt.datetime, cfg: FraudConfig, tz: zoneinfo.ZoneInfo,
         now: dt.datetime, record: bool = True) -> ScanResult:
    """All rules over [since, until); alerts recorded (unless ``record`` is False: a dry run / a benchmark)."""
    result = ScanResult(since, until)

    def emit(event: Event, hit: Hit, key: str, ref: str | None = None) -> None:
        result.hits[hit.rule] += 1
        result.flagged[hit.rule].add(key)
        if record:
            result.recorded += fraud_engine.record(session, event, [replace(hit, action=ALERT)], now=now, key=key,
                                                   ref=ref)

    _money_in_rules(session, result, since, until, cfg, tz, emit)
    _bulk_same_day(session, since, until, cfg, tz, emit)
    _reversal_rate(session, since, until, cfg, tz, emit)
    _reversal_operator(session, since, until, cfg, tz, emit)
    _refund_after_use(session, since, until, tz, emit)
    _refund_after_release(session, since, until, tz, emit)
    return result


_P, _CA, _R, _AC = Payment.__table__, CustomerAccount.__table__, Redemption.__table__, ApiClient.__table__


def screen_import(session: Session, import_id: int, *, cfg: FraudConfig, tz: zoneinfo.ZoneInfo, now: dt.datetime,
                  record: bool = True) -> ScanResult:
    """The money-in rules over the payments one imported file just booked (``voucherctl payments import``).

    The same pass as the scan (and so the same :func:`decide`), narrowed to the
    accounts the file credits and to the file's time span (plus the day before,
    to warm the windows); only the file's own payments are judged. The money has
    moved (the file is booked as a whole), so a rule set to ``hold`` is
    recorded as an alert here too, as in the scan.
    """
    span = session.execute(select(func.min(_P.c.paid_at), func.max(_P.c.paid_at))
                           .where(_P.c.import_id == import_id)).one()
    if span[0] is None:
        return ScanResult(now, now)
    lo, hi = (v if v.tzinfo else v.replace(tzinfo=dt.timezone.utc) for v in span)
    result = ScanResult(lo, hi + dt.timedelta(microseconds=1))

    def emit(event: Event, hit: Hit, key: str, ref: str | None = None) -> None:
        result.hits[hit.rule] += 1
        result.flagged[hit.rule].add(key)
        if record:
            result.recorded += fraud_engine.record(
                session, event, [replace(hit, action=ALERT, details={**hit.details, "import_id": import_id})],
                now=now, key=key, ref=ref)

    _money_in_rules(session, result, result.since, result.until, cfg, tz, emit, import_id=import_id)
    return result


def money_in_query(since: dt.datetime, until: dt.datetime, import_id: int | None = None) -> Any:
    """The one range read of the money-in rules: [since - 1 day, until) in time order (the benchmark times
    reading it bare as its baseline); ``import_id``: only the accounts that file credits."""
    query = (
        select(_P.c.id, _P.c.channel, _P.c.external_ref, _P.c.amount, _P.c.paid_at, _CA.c.account_no,
               V.c.distributor_id, V.c.batch_pk, V.c.sequence, V.c.activated_at,
               _R.c.client_pk, _AC.c.client_id, _P.c.import_id)
        .join(_CA, _CA.c.id == _P.c.customer_id)
        .outerjoin(V, and_(_P.c.channel == "voucher", V.c.serial == _P.c.external_ref))
        .outerjoin(_R, and_(_P.c.channel == "voucher", _R.c.serial == _P.c.external_ref))
        .outerjoin(_AC, _AC.c.id == _R.c.client_pk)
        .where(_P.c.paid_at >= since - DAY, _P.c.paid_at < until, _P.c.status == "booked"))
    if import_id is not None:
        query = query.where(_P.c.customer_id.in_(select(_P.c.customer_id).where(_P.c.import_id == import_id)
                                                 .distinct().scalar_subquery()))
    return query.order_by(_P.c.paid_at, _P.c.id)


def _money_in_rules(session: Session, result: ScanResult, since: dt.datetime, until: dt.datetime,
                    cfg: FraudConfig, tz: zoneinfo.ZoneInfo, emit: Any, *, import_id: int | None = None) -> None:
    """The inline rules over [since, until) in one time-ordered pass; ``import_id``: only that file's accounts
    are read and only its payments judged."""
    rows = session.execute(money_in_query(since, until, import_id).execution_options(yield_per=20_000))
    void = _void_sequences(session)
    edges = _BatchEdges(session, cfg.void_distance)
    staff_of = _staff_matches(session)
    accounts: dict[str, deque[tuple[dt.datetime, int, bool, bool]]] = defaultdict(deque)
    acc_state: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # cards, amount, just-under in the window
    terminals: dict[int, deque[dt.datetime]] = defaultdict(deque)
    quick: dict[tuple[str, str], deque[dt.datetime]] = defaultdict(deque)
    for (pid, channel, ref, amount, paid_at, account_no, dist, batch_pk, sequence, activated,
         client_pk, client_id, row_import) in rows:
        at = paid_at if paid_at.tzinfo else paid_at.replace(tzinfo=dt.timezone.utc)
        is_card = channel == "voucher"
        if activated is not None and activated.tzinfo is None:
            activated = activated.replace(tzinfo=dt.timezone.utc)
        event = Event(kind="redemption" if is_card else "payment", account_no=account_no, amount=int(amount),
                      channel=channel, at=at, local_hour=at.astimezone(tz).hour,
                      terminal=client_id if is_card else None, distributor_id=dist if is_card else None,
                      serial=ref if is_card else None, batch_pk=batch_pk if is_card else None,
                      activated_at=activated if is_card else None)
        window, state = accounts[account_no], acc_state[account_no]
        while window and window[0][0] <= at - DAY:
            _, old_amount, old_card, old_under = window.popleft()
            state[0] -= old_card
            state[1] -= old_amount
            state[2] -= old_under
        under = is_just_under(cfg, event)
        window.append((at, int(amount), is_card, under))
        state[0] += is_card
        state[1] += int(amount)
        state[2] += under
        terminal_hour = 0
        if client_pk is not None:
            tw = terminals[client_pk]
            while tw and tw[0] <= at - HOUR:
                tw.popleft()
            tw.append(at)
            terminal_hour = len(tw)
        quick_count = 0
        if is_card and dist and is_quick(cfg, event):
            qw = quick[(account_no, dist)]
            while qw and qw[0] <= at - DAY:
                qw.popleft()
            qw.append(at)
            quick_count = len(qw)
        near = False
        if is_card and batch_pk is not None and sequence is not None and batch_pk in void:
            seqs = void[batch_pk]
            i = bisect.bisect_left(seqs, sequence - cfg.void_distance)
            near = i < len(seqs) and seqs[i] <= sequence + cfg.void_distance
        if is_card and batch_pk is not None and sequence is not None and not near:
            near = edges.near(batch_pk, sequence)
        if at < since or (import_id is not None and row_import != import_id):
            continue  # warming the windows only
        result.events += 1
        facts = Facts(account_cards_day=state[0], account_amount_day=state[1], terminal_hour=terminal_hour,
                      quick_cards_day=quick_count, near_void=near, just_under_day=state[2] if under else 0,
                      staff_match=staff_of.get(account_no))
        for hit in decide(cfg, event, facts):
            key = fraud_engine.redemption_key(ref) if is_card else fraud_engine.payment_key(channel, ref)
            emit(event, hit, key, str(pid))


def _staff_matches(session: Session) -> dict[str, str]:
    """Account number -> the (enabled, first) staff member whose phone or address the account shares."""
    S, C2 = StaffAccount.__table__, fraud_engine.STAFF_CUSTOMER
    found: dict[str, str] = {}
    for account_no, username in session.execute(select(C2.c.account_no, S.c.username)
                                                .select_from(S.join(C2, fraud_engine.STAFF_MATCH))
                                                .where(S.c.disabled == false()).order_by(S.c.id)):
        found.setdefault(account_no, username)
    return found


class _BatchEdges:
    """Void cards near the ends of batches, for ``stolen.near_void`` across batches: a card within
    ``distance`` serials of a void card of the batch issued just before (its last cards) or just after (its
    first cards), counting through the boundary - as the inline check does."""

    def __init__(self, session: Session, distance: int) -> None:
        B = Batch.__table__
        self.distance = distance
        self.order = [int(pk) for pk, in session.execute(select(B.c.id).order_by(B.c.id))]
        self.count = {int(pk): int(n) for pk, n in session.execute(select(B.c.id, B.c["count"]))}
        self.first_void: dict[int, int] = {}  # batch -> its lowest void sequence within distance of its start
        self.last_void: dict[int, int] = {}  # batch -> its highest void sequence within distance of its end
        if distance <= 0:
            return
        for batch_pk, sequence, count in session.execute(
                select(V.c.batch_pk, V.c.sequence, B.c["count"]).join(B, B.c.id == V.c.batch_pk)
                .where(V.c.status == "void", (V.c.sequence <= distance) | (V.c.sequence > B.c["count"] - distance))):
            if sequence <= distance:
                self.first_void[batch_pk] = min(sequence, self.first_void.get(batch_pk, sequence))
            if sequence > count - distance:
                self.last_void[batch_pk] = max(sequence, self.last_void.get(batch_pk, sequence))
        self.position = {pk: i for i, pk in enumerate(self.order)}

    def near(self, batch_pk: int, sequence: int) -> bool:
        if self.distance <= 0 or batch_pk not in self.position:
            return False
        i = self.position[batch_pk]
        if sequence <= self.distance and i > 0:
            prev = self.order[i - 1]
            last = self.last_void.get(prev)
            if last is not None and self.count[prev] - last + sequence <= self.distance:
                return True
        if sequence > self.count[batch_pk] - self.distance and i + 1 < len(self.order):
            first = self.first_void.get(self.order[i + 1])
            if first is not None and self.count[batch_pk] - sequence + first <= self.distance:
                return True
        return False


def _void_sequences(session: Session) -> dict[int, list[int]]:
    """Void card sequences per batch of batches that still have redeemable cards (a voided range)."""
    live = select(V.c.batch_pk).where(V.c.status.in_(("active", "redeemed"))).distinct().subquery()
    found: dict[int, list[int]] = defaultdict(list)
    for batch_pk, sequence in session.execute(select(V.c.batch_pk, V.c.sequence)
                                              .where(V.c.status == "void", V.c.batch_pk.in_(select(live.c.batch_pk)))
                                              .order_by(V.c.batch_pk, V.c.sequence)):
        found[batch_pk].append(sequence)
    return found


def _bulk_same_day(session: Session, since: dt.datetime, until: dt.datetime, cfg: FraudConfig,
                   tz: zoneinfo.ZoneInfo, emit: Any) -> None:
    A, D = VoucherActivation.__table__, Distributor.__table__
    activations = session.execute(
        select(A.c.id, A.c.batch_pk, A.c.first_sequence, A.c.last_sequence, A.c.count, A.c.activated_at,
               D.c.distributor_id).join(D, D.c.id == A.c.distributor_pk)
        .where(A.c.activated_at >= since, A.c.activated_at < until, A.c.count >= cfg.bulk_cards)).all()
    rule = RULES["insider.bulk_same_day"]
    for aid, batch_pk, first, last, count, activated_at, distributor_id in activations:
        at = activated_at if activated_at.tzinfo else activated_at.replace(tzinfo=dt.timezone.utc)
        local_day = at.astimezone(tz).date()
        day_end = dt.datetime.combine(local_day + dt.timedelta(days=1), dt.time(0), tzinfo=tz)
        redeemed = session.execute(select(func.count()).where(
            V.c.batch_pk == batch_pk, V.c.sequence >= first, V.c.sequence <= last,
            V.c.redeemed_at >= at, V.c.redeemed_at < day_end)).scalar_one()
        if redeemed >= cfg.bulk_redeemed:
            event = Event(kind="activation", account_no="-", amount=0, channel="voucher", at=at,
                          local_hour=at.astimezone(tz).hour, distributor_id=distributor_id)
            emit(event, Hit(rule.id, ALERT, rule.subject, distributor_id,
                            {"activation": aid, "cards": count, "redeemed_same_day": int(redeemed)}),
                 f"activation:{aid}", str(aid))


def _local_day(session: Session, column: Any, tz: zoneinfo.ZoneInfo) -> Any:
    if is_postgres(session):
        return func.date(func.timezone(str(tz), column))
    offset = dt.datetime(2026, 1, 1, tzinfo=tz).utcoffset() or dt.timedelta(0)  # fixed-offset zones (no DST)
    return func.date(column, f"{int(offset.total_seconds() // 60):+d} minutes")


def _reversal_rate(session: Session, since: dt.datetime, until: dt.datetime, cfg: FraudConfig,
                   tz: zoneinfo.ZoneInfo, emit: Any) -> None:
    day = _local_day(session, _P.c.paid_at, tz).label("day")
    rows = session.execute(
        select(_P.c.channel, day, func.count(), func.sum(cast(_P.c.status == "reversed", Integer)))
        .where(_P.c.paid_at >= since - 2 * BASELINE_DAYS * DAY, _P.c.paid_at < until, _P.c.channel != "voucher")
        .group_by(_P.c.channel, day)).all()  # twice the window: the days of the range's baselines are judged too
    per_channel: dict[str, dict[dt.date, tuple[int, int]]] = defaultdict(dict)
    for channel, local_day, total, reversed_ in rows:
        d = local_day if isinstance(local_day, dt.date) else dt.date.fromisoformat(str(local_day))
        per_channel[channel][d] = (int(total), int(reversed_ or 0))
    first_day = since.astimezone(tz).date()
    rule = RULES["channel.reversal_rate"]
    for channel, days in per_channel.items():
        # the 28 days before ``since`` are judged too (on their own 28 days), so that those that fired stay out
        # of the baselines of the range's days; only the range's days are reported
        for f in reversal_rate_days(cfg, days):
            if f.day < first_day:
                continue
            at = dt.datetime.combine(f.day, dt.time(0), tzinfo=tz)
            event = Event(kind="channel_day", account_no="-", amount=0, channel=channel, at=at, local_hour=0)
            emit(event, Hit(rule.id, ALERT, rule.subject, channel,
                            {"day": f.day.isoformat(), "payments": f.payments, "reversed": f.reversed,
                             "rate_bp": f.rate_bp, "baseline_bp": f.baseline_bp}),
                 f"channel:{channel}:{f.day.isoformat()}")


def _reversal_operator(session: Session, since: dt.datetime, until: dt.datetime, cfg: FraudConfig,
                       tz: zoneinfo.ZoneInfo, emit: Any) -> None:
    """Reversals per operator (the reversal's actor) and local day against the operator's own baseline: the
    median of its daily counts over the 28 days before (a day with payments and none of its reversals counts
    as 0). A count, not a rate: one operator among many refunds a small share of any day's payments, so the
    channel rule's rate floor would hide it. ``reversal_min`` and ``reversal_factor`` as for the channels."""
    T = LedgerTransaction.__table__
    lo = since - BASELINE_DAYS * DAY
    pday = _local_day(session, _P.c.paid_at, tz).label("day")
    totals: dict[dt.date, int] = {}
    for local_day, total in session.execute(select(pday, func.count())
                                            .where(_P.c.paid_at >= lo, _P.c.paid_at < until,
                                                   _P.c.channel != "voucher").group_by(pday)):
        totals[_as_date(local_day)] = int(total)
    tday = _local_day(session, T.c.posted_at, tz).label("day")
    per_operator: dict[str, dict[dt.date, int]] = defaultdict(dict)
    for actor, local_day, n in session.execute(select(T.c.actor, tday, func.count())
                                               .where(T.c.source == PAYMENT_REVERSAL_SOURCE, T.c.posted_at >= lo,
                                                      T.c.posted_at < until).group_by(T.c.actor, tday)):
        per_operator[actor][_as_date(local_day)] = int(n)
    first_day = since.astimezone(tz).date()
    rule = RULES["channel.reversal_operator"]
    for actor, days in per_operator.items():
        for d, n in sorted(days.items()):
            if d < first_day or n < cfg.reversal_min:
                continue
            history = sorted(days.get(b, 0) for back in range(1, BASELINE_DAYS + 1)
                             if (b := d - dt.timedelta(days=back)) in totals)
            if len(history) < OPERATOR_HISTORY_DAYS:
                continue  # the first days of the books: no baseline yet for anyone
            middle = len(history) // 2
            baseline = (0 if not history else history[middle] if len(history) % 2
                        else (history[middle - 1] + history[middle]) / 2)
            if n > cfg.reversal_factor * baseline:
                at = dt.datetime.combine(d, dt.time(0), tzinfo=tz)
                event = Event(kind="operator_day", account_no="-", amount=0, channel="-", at=at, local_hour=0)
                emit(event, Hit(rule.id, ALERT, rule.subject, actor[:64],
                                {"day": d.isoformat(), "reversed": n, "payments": totals.get(d, 0),
                                 "baseline": baseline}),
                     f"operator:{actor[:100]}:{d.isoformat()}")


def _as_date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def _refund_after_use(session: Session, since: dt.datetime, until: dt.datetime, tz: zoneinfo.ZoneInfo,
                      emit: Any) -> None:
    T, S = LedgerTransaction.__table__, StsVend.__table__
    ref = cast(_P.c.id, String)
    rows = session.execute(
        select(_P.c.id, _P.c.channel, _P.c.external_ref, _P.c.amount, _CA.c.account_no, T.c.posted_at,
               S.c.vended_at)
        .join(_CA, _CA.c.id == _P.c.customer_id)
        .join(T, and_(T.c.source == PAYMENT_REVERSAL_SOURCE, T.c.external_ref == ref))
        .join(S, and_(S.c.source == "payment", S.c.source_ref == ref))
        .where(_P.c.paid_at >= since - REFUND_LOOKBACK, _P.c.paid_at < until, _P.c.status == "reversed",
               T.c.posted_at >= since, T.c.posted_at < until, S.c.vended_at <= T.c.posted_at)).all()
    rule = RULES["channel.refund_after_use"]
    for pid, channel, external_ref, amount, account_no, posted_at, _vended in rows:
        at = posted_at if posted_at.tzinfo else posted_at.replace(tzinfo=dt.timezone.utc)
        event = Event(kind="payment", account_no=account_no, amount=int(amount), channel=channel, at=at,
                      local_hour=at.astimezone(tz).hour)
        emit(event, Hit(rule.id, ALERT, rule.subject, account_no, {"payment_id": pid}),
             fraud_engine.payment_key(channel, external_ref), str(pid))


def _refund_after_release(session: Session, since: dt.datetime, until: dt.datetime, tz: zoneinfo.ZoneInfo,
                          emit: Any) -> None:
    """A held payment an analyst released to the account, then refunded by its channel (posted in the range).

    The refund itself is not refused: the channel has returned the money already, and the books record it.
    What is special is that someone vouched for the payment: the alert names who released it and when.
    """
    T, H = LedgerTransaction.__table__, FraudHold.__table__
    rows = session.execute(
        select(_P.c.id, _P.c.channel, _P.c.external_ref, _P.c.amount, _CA.c.account_no, T.c.posted_at,
               H.c.hold_id, H.c.resolved_by, H.c.resolved_at)
        .join(_CA, _CA.c.id == _P.c.customer_id)
        .join(H, and_(H.c.payment_id == _P.c.id, H.c.status == "released"))
        .join(T, and_(T.c.source == PAYMENT_REVERSAL_SOURCE, T.c.external_ref == cast(_P.c.id, String)))
        .where(T.c.posted_at >= since, T.c.posted_at < until, _P.c.status == "reversed")).all()
    rule = RULES["channel.refund_after_release"]
    for pid, channel, external_ref, amount, account_no, posted_at, hold_id, released_by, released_at in rows:
        at = posted_at if posted_at.tzinfo else posted_at.replace(tzinfo=dt.timezone.utc)
        released = released_at if released_at is None or released_at.tzinfo else \
            released_at.replace(tzinfo=dt.timezone.utc)
        event = Event(kind="payment", account_no=account_no, amount=int(amount), channel=channel, at=at,
                      local_hour=at.astimezone(tz).hour)
        emit(event, Hit(rule.id, ALERT, rule.subject, account_no,
                        {"payment_id": pid, "hold_id": hold_id, "released_by": released_by,
                         "released_at": released.isoformat() if released else None}),
             fraud_engine.payment_key(channel, external_ref), str(pid))
