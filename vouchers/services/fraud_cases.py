"""Fraud cases (alerts grouped per subject) and the fraud report.

A case opens with the first alert about its subject (an account, a
distributor, a terminal, a batch, a channel) and collects every later one
until an analyst closes it with a verdict; the next alert opens a new case.
"""
from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from typing import Any
import zoneinfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from vouchers.storage import audit
from vouchers.storage.api_models import FRAUD_VERDICTS, FraudAlert, FraudCase, FraudHold
from vouchers.money import format_amount
from vouchers.services.errors import FraudReviewError
from vouchers.services.fraud_rules import describe


def _case_json(case: FraudCase, alerts: int, held: int) -> dict[str, Any]:
    return {"id": case.id, "subject_type": case.subject_type, "subject_id": case.subject_id,
            "status": case.status, "opened_at": case.opened_at.isoformat(), "updated_at": case.updated_at.isoformat(),
            "closed_at": case.closed_at.isoformat() if case.closed_at else None, "closed_by": case.closed_by,
            "verdict": case.verdict, "note": case.note, "alerts": alerts, "held": format_amount(held)}


def list_cases(session: Session, *, open_only: bool = False, limit: int = 1000) -> list[dict[str, Any]]:
    query = select(FraudCase).order_by(FraudCase.updated_at.desc(), FraudCase.id.desc()).limit(limit)
    if open_only:
        query = query.where(FraudCase.status == "open")
    cases = list(session.execute(query).scalars())
    ids = [c.id for c in cases]
    counts = dict(session.execute(select(FraudAlert.case_id, func.count()).where(FraudAlert.case_id.in_(ids))
                                  .group_by(FraudAlert.case_id)).all()) if ids else {}
    held = _held_by_case(session, ids)
    return [_case_json(c, int(counts.get(c.id, 0)), held.get(c.id, 0)) for c in cases]


def _held_by_case(session: Session, case_ids: list[int]) -> dict[int, int]:
    """Money on hold per case: holds whose alerts are in the case."""
    if not case_ids:
        return {}
    rows = session.execute(select(FraudAlert.case_id, FraudHold.hold_id, FraudHold.amount)
                           .join(FraudHold, FraudHold.hold_id == FraudAlert.hold_id)
                           .where(FraudAlert.case_id.in_(case_ids), FraudHold.status == "held")).all()
    seen: dict[int, dict[str, int]] = defaultdict(dict)
    for case_id, hold_id, amount in rows:
        seen[case_id][hold_id] = int(amount)
    return {case_id: sum(holds.values()) for case_id, holds in seen.items()}


def show_case(session: Session, case_id: int, *, lang: str = "en") -> dict[str, Any]:
    case = session.get(FraudCase, case_id)
    if case is None:
        raise FraudReviewError(f"no fraud case {case_id}")
    alerts = list(session.execute(select(FraudAlert).where(FraudAlert.case_id == case_id)
                                  .order_by(FraudAlert.at, FraudAlert.id)).scalars())
    body = _case_json(case, len(alerts), _held_by_case(session, [case_id]).get(case_id, 0))
    body["alert_list"] = [{
        "id": a.id, "at": a.at.isoformat(), "rule": a.kind, "description": describe(a.kind, lang),
        "action": a.action or "alert", "account_no": a.account_no, "serial": a.serial, "channel": a.channel,
        "amount": format_amount(a.amount) if a.amount is not None else None, "hold_id": a.hold_id,
        "details": json.loads(a.details) if a.details else None} for a in alerts]
    return body


def close_case(session: Session, case_id: int, *, verdict: str, note: str, actor: str,
               now: dt.datetime) -> dict[str, Any]:
    """Close with a verdict; closing a case closed with the same verdict again changes nothing."""
    if verdict not in FRAUD_VERDICTS:
        raise FraudReviewError(f"verdict must be one of {', '.join(FRAUD_VERDICTS)}")
    note = (note or "").strip()
    if not note:
        raise FraudReviewError("closing a case needs a note")
    case = session.get(FraudCase, case_id, with_for_update=True)
    if case is None:
        raise FraudReviewError(f"no fraud case {case_id}")
    if case.status == "closed":
        if case.verdict == verdict:
            return show_case(session, case_id)
        raise FraudReviewError(f"case {case_id} was closed as {case.verdict} already")
    session.execute(update(FraudCase).where(FraudCase.id == case_id).values(
        status="closed", closed_at=now, closed_by=actor, verdict=verdict, note=note[:2000], updated_at=now))
    audit.record(session, now=now, actor=actor, action="fraud.case_close", subject_type="fraud_case",
                 subject_id=str(case_id), from_state="open", to_state="closed", reason=note[:500],
                 details={"verdict": verdict, "subject": f"{case.subject_type}:{case.subject_id}"})
    session.expire(case)
    return show_case(session, case_id)


REPORT_DIMENSIONS = ("rule", "channel", "distributor", "month")


def report(session: Session, *, since: dt.datetime, until: dt.datetime, tz: zoneinfo.ZoneInfo) -> list[dict[str, Any]]:
    """Alerts and held amounts by rule, channel, distributor and local month (one row per combination)."""
    return [{**{k: r[k] for k in ("rule", "channel", "distributor", "month", "alerts", "holds")},
             "held_amount": format_amount(r["held_minor"]), "still_held": format_amount(r["still_held_minor"])}
            for r in report_minor(session, since=since, until=until, tz=tz)]


def report_minor(session: Session, *, since: dt.datetime, until: dt.datetime,
                 tz: zoneinfo.ZoneInfo) -> list[dict[str, Any]]:
    """:func:`report` with the amounts in minor units (``held_minor``, ``still_held_minor``): for the PDF."""
    rows = session.execute(
        select(FraudAlert.kind, FraudAlert.channel, FraudAlert.distributor_id, FraudAlert.at, FraudAlert.hold_id,
               FraudHold.amount, FraudHold.status)
        .outerjoin(FraudHold, FraudHold.hold_id == FraudAlert.hold_id)
        .where(FraudAlert.at >= since, FraudAlert.at < until)).all()
    groups: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for rule, channel, distributor, at, hold_id, amount, status in rows:
        month = at.astimezone(tz).strftime("%Y-%m")
        key = (rule, channel or "-", distributor or "-", month)
        g = groups.setdefault(key, {"alerts": 0, "holds": set(), "held": 0, "held_now": 0})
        g["alerts"] += 1
        if hold_id and hold_id not in g["holds"]:
            g["holds"].add(hold_id)
            g["held"] += int(amount or 0)
            if status == "held":
                g["held_now"] += int(amount or 0)
    return [{"rule": k[0], "channel": k[1], "distributor": k[2], "month": k[3], "alerts": g["alerts"],
             "holds": len(g["holds"]), "held_minor": g["held"], "still_held_minor": g["held_now"]}
            for k, g in sorted(groups.items())]
