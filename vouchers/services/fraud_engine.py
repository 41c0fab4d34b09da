"""Fraud rules inside the money-in flow: the rolling-window counts by indexed queries, then the alerts.

:func:`check` reads, for one event, what :class:`vouchers.services.fraud_rules.Facts`
needs: one statement over the account's payments of the last day
(``ix_payments_customer_paid_at``) and its funds on hold, and only when they
matter the terminal's last hour (``ix_redemptions_client_at``), the
distributor's quick cards onto the account, and void cards near the serial
(``uq_vouchers_batch_sequence``). :func:`record` writes the alerts into their
cases in the caller's transaction.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, bindparam, false, func, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vouchers.books.sql import insert_ignoring_conflicts
from vouchers.storage import hot_sql
from vouchers.storage.api_models import FraudAlert, FraudCase, FraudHold, Redemption
from vouchers.storage.ledger_models import CustomerAccount, Payment
from vouchers.storage.ledger_models import vouchers_lifecycle as V
from vouchers.storage.models import Batch
from vouchers.storage.staff_models import StaffAccount
from vouchers.storage.types import UTCDateTime
from vouchers.services.fraud_config import FraudConfig
from vouchers.services.fraud_rules import Event, Facts, Hit, decide, is_just_under, is_quick

DAY, HOUR = dt.timedelta(days=1), dt.timedelta(hours=1)
_P, _R, _H, _CA = Payment.__table__, Redemption.__table__, FraudHold.__table__, CustomerAccount.__table__
_SINCE = bindparam("since", type_=UTCDateTime())
_CUSTOMER = select(_CA.c.id).where(_CA.c.account_no == bindparam("no")).scalar_subquery()
_IN_DAY = and_(_P.c.customer_id == _CUSTOMER, _P.c.paid_at > _SINCE, _P.c.status == "booked")
_HELD = and_(_H.c.account_no == bindparam("no"), _H.c.created_at > _SINCE, _H.c.status == "held")
_HOUR_AGO = bindparam("hour_ago", type_=UTCDateTime())
_B = Batch.__table__
_PREV_B = _B.alias("prev_batch")
_S, STAFF_CUSTOMER = StaffAccount.__table__, CustomerAccount.__table__.alias("staff_customer")
# staff whose phone or address the customer shares: the staff table is small, the customer one row
STAFF_MATCH = or_(and_(_S.c.phone.is_not(None), _S.c.phone == STAFF_CUSTOMER.c.phone),
                  and_(_S.c.address.is_not(None), _S.c.address == STAFF_CUSTOMER.c.address))
# ONE statement per event: the account's last day (cards, money, just-under payments, what is on hold for
# it), the terminal's last hour (NULL client: 0) and a void card near the serial (NULL batch: none)
_ACCOUNT_DAY = select(
    select(func.count()).where(_IN_DAY, _P.c.channel == "voucher").scalar_subquery(),
    select(func.coalesce(func.sum(_P.c.amount), 0)).where(_IN_DAY).scalar_subquery(),
    select(func.count()).where(_IN_DAY, _P.c.channel != "voucher", _P.c.amount >= bindparam("lo"),
                               _P.c.amount < bindparam("hi")).scalar_subquery(),
    select(func.count()).where(_HELD, _H.c.kind == "redemption").scalar_subquery(),
    select(func.coalesce(func.sum(_H.c.amount), 0)).where(_HELD).scalar_subquery(),
    select(func.count()).where(_R.c.client_pk == bindparam("client"), _R.c.redeemed_at > _HOUR_AGO)
    .scalar_subquery(),
    select(V.c.id).where(V.c.batch_pk == bindparam("batch"), V.c.sequence >= bindparam("vlo"),
                         V.c.sequence <= bindparam("vhi"), V.c.status == "void").limit(1).exists(),
    # across batches: the batch issued just before (its last cards) or just after (its first cards)
    select(V.c.id).join(_PREV_B, _PREV_B.c.id == V.c.batch_pk)
    .where(V.c.batch_pk == select(func.max(_B.c.id)).where(_B.c.id < bindparam("batch")).scalar_subquery(),
           V.c.sequence >= _PREV_B.c["count"] + bindparam("vlo"), V.c.status == "void").limit(1).exists(),
    select(V.c.id).where(V.c.batch_pk == select(func.min(_B.c.id)).where(_B.c.id > bindparam("batch"))
                         .scalar_subquery(),
                         V.c.sequence <= bindparam("vhi") - select(_B.c["count"]).where(_B.c.id == bindparam("batch"))
                         .scalar_subquery(), V.c.status == "void").limit(1).exists(),
    select(_S.c.username).select_from(_S.join(STAFF_CUSTOMER, STAFF_MATCH))
    .where(STAFF_CUSTOMER.c.account_no == bindparam("no"), _S.c.disabled == false()).order_by(_S.c.id).limit(1)
    .scalar_subquery(),
)
# this distributor's cards onto this account in the last day, with their activation and redemption instants
_DISTRIBUTOR_CARDS = (select(V.c.activated_at, V.c.redeemed_at)
                      .join(_P, and_(_P.c.channel == "voucher", _P.c.external_ref == V.c.serial))
                      .where(_P.c.customer_id == _CUSTOMER, _P.c.paid_at > _SINCE,
                             V.c.distributor_id == bindparam("dist")))


def facts(session: Session, event: Event, cfg: FraudConfig, *, client_pk: int | None = None,
          sequence: int | None = None) -> Facts:
    """The rolling-window counts of ``event`` (the event itself included), by indexed queries."""
    day_ago = event.at - DAY
    near = (event.batch_pk, sequence - cfg.void_distance, sequence + cfg.void_distance) \
        if event.batch_pk is not None and sequence is not None else (None, 0, -1)
    cards, amount, under, held_cards, held_amount, terminal, near_void, near_prev, near_next, staff = \
        hot_sql.one_or_none(session, _ACCOUNT_DAY, {
        "no": event.account_no, "since": day_ago, "lo": cfg.review_threshold - cfg.structuring_band,
        "hi": cfg.review_threshold, "client": client_pk, "hour_ago": event.at - HOUR, "batch": near[0],
        "vlo": near[1], "vhi": near[2]})
    this_card = 1 if event.kind == "redemption" else 0
    terminal = int(terminal or 0) + 1 if client_pk is not None else 0
    quick = 0
    if is_quick(cfg, event) and event.distributor_id:
        window = dt.timedelta(minutes=cfg.quick_minutes)
        quick = 1 + sum(1 for activated, redeemed in session.execute(
            _DISTRIBUTOR_CARDS, {"no": event.account_no, "since": day_ago, "dist": event.distributor_id})
            if activated is not None and redeemed is not None and redeemed - activated <= window)
    return Facts(account_cards_day=int(cards) + int(held_cards) + this_card,
                 account_amount_day=int(amount) + int(held_amount) + event.amount,
                 terminal_hour=terminal, quick_cards_day=quick,
                 near_void=bool(near_void) or bool(near_prev) or bool(near_next), staff_match=staff,
                 just_under_day=int(under) + 1 if is_just_under(cfg, event) else 0)


def check(session: Session, event: Event, cfg: FraudConfig, *, client_pk: int | None = None,
          sequence: int | None = None) -> list[Hit]:
    """The inline rules that fire for ``event``."""
    return decide(cfg, event, facts(session, event, cfg, client_pk=client_pk, sequence=sequence))


def redemption_key(serial: str) -> str:
    """What makes a rule's alert about one redemption unique (the scan uses the same keys)."""
    return f"voucher:{serial}"


def payment_key(channel: str, external_ref: str) -> str:
    return f"payment:{channel}:{external_ref}"


def case_for(session: Session, subject_type: str, subject_id: str, now: dt.datetime) -> int:
    """The open case of a subject, opened now if there is none."""
    table = FraudCase.__table__
    found = session.execute(select(table.c.id).where(table.c.subject_type == subject_type,
                                                     table.c.subject_id == subject_id,
                                                     table.c.status == "open")).scalar_one_or_none()
    if found is not None:
        session.execute(table.update().where(table.c.id == found).values(updated_at=now))
        return int(found)
    try:
        with session.begin_nested():
            return int(session.execute(insert(table).values(
                subject_type=subject_type, subject_id=subject_id, status="open", opened_at=now, updated_at=now)
                .returning(table.c.id)).scalar_one())
    except IntegrityError:  # opened by a concurrent writer a moment ago
        return int(session.execute(select(table.c.id).where(table.c.subject_type == subject_type,
                                                            table.c.subject_id == subject_id,
                                                            table.c.status == "open")).scalar_one())


def record(session: Session, event: Event, hits: Iterable[Hit], *, now: dt.datetime, key: str,
           ref: str | None = None, hold_id: str | None = None, client_id: str | None = None) -> int:
    """Write one alert per hit (into its subject's case); a (rule, key) recorded before is skipped."""
    written = 0
    for hit in hits:
        row: dict[str, Any] = {
            "at": event.at, "kind": hit.rule, "serial": event.serial, "voucher_status": None,
            "channel": event.channel, "client_id": client_id or event.terminal, "ip": None,
            "account_no": event.account_no, "details": json.dumps(hit.details, sort_keys=True, default=str),
            "action": hit.action, "subject_type": hit.subject_type, "subject_id": hit.subject_id,
            "amount": event.amount, "distributor_id": event.distributor_id, "ref": ref, "hold_id": hold_id,
            "case_id": case_for(session, hit.subject_type, hit.subject_id, now), "dedup": f"{hit.rule}|{key}"}
        table = FraudAlert.__table__
        new_id = session.execute(insert_ignoring_conflicts(session, table, "dedup").values(**row)
                                 .returning(table.c.id)).scalar_one_or_none()
        written += new_id is not None
    return written


