"""The JSON documents of the lists, statements and the daily close, one shape for the CLI's ``--json``
and the API (as :meth:`vouchers.services.clients.ClientRecord.as_json` is for clients).

Amounts are decimal strings; instants ISO 8601 with the offset of the business
time zone; dates ``YYYY-MM-DD``.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from vouchers.books.reports.distributor import DistributorStatement
from vouchers.books.timeutil import zone
from vouchers.money import format_amount as money
from vouchers.services.daily_close import DailyClose
from vouchers.services.lists import AccountHit, Page, PaymentRow
from vouchers.services.statements import AccountStatement, DistributorStock


def local_iso(at: dt.datetime, tz: str) -> str:
    return at.astimezone(zone(tz)).isoformat()


def _page(page: Page, key: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"total": page.total, "limit": page.limit, "offset": page.offset, key: items}


def account_hit(hit: AccountHit, tz: str) -> dict[str, Any]:
    return {"account_no": hit.account_no, "name": hit.name, "meter_no": hit.meter_no,
            "phone_masked": hit.phone_masked, "currency": hit.currency, "balance": money(hit.balance),
            "arrears": money(hit.arrears), "created_at": local_iso(hit.created_at, tz)}


def account_page(page: Page, tz: str) -> dict[str, Any]:
    return _page(page, "accounts", [account_hit(h, tz) for h in page.items])


def payment_row(p: PaymentRow, tz: str) -> dict[str, Any]:
    return {"payment_id": str(p.payment_id), "channel": p.channel, "external_ref": p.external_ref,
            "account_no": p.account_no, "amount": money(p.amount), "currency": p.currency,
            "applied_to_arrears": money(p.applied_to_arrears), "paid_at": local_iso(p.paid_at, tz),
            "status": p.status, "import_id": p.import_id, "transaction_id": p.transaction_id}


def payment_page(page: Page, tz: str) -> dict[str, Any]:
    return _page(page, "payments", [payment_row(p, tz) for p in page.items])


def account_statement(s: AccountStatement, tz: str) -> dict[str, Any]:
    return {
        "account_no": s.account_no, "name": s.name, "currency": s.currency,
        "from": s.period.first.isoformat(), "to": s.period.last.isoformat(), "timezone": tz,
        "opening": {"balance": money(s.opening_prepaid), "arrears": money(s.opening_arrears),
                    "position": money(s.opening)},
        "lines": [{"at": local_iso(x.at, tz), "kind": x.kind, "reference": x.reference, "channel": x.channel,
                   "transaction_id": x.transaction_id, "arrears": money(x.arrears), "balance": money(x.prepaid),
                   "amount": money(x.amount)} for x in s.lines],
        "totals": {kind: money(v) for kind, v in sorted(s.totals().items())},
        "closing": {"balance": money(s.closing_prepaid), "arrears": money(s.closing_arrears),
                    "position": money(s.closing)},
        "computed_closing": money(s.computed_closing), "closes": s.closes,
    }


def distributor_stock(s: DistributorStock, tz: str) -> dict[str, Any]:
    return {
        "distributor_id": s.distributor_id, "name": s.name, "in_stock": s.in_stock,
        "in_stock_value": money(s.in_stock_value),
        "batches": [{"batch_id": x.batch_id, "face_value": money(x.face_value), "currency": x.currency,
                     "expires": x.expires.isoformat(), "in_stock": x.in_stock, "sold": x.sold,
                     "redeemed": x.redeemed, "expired": x.expired, "void": x.void} for x in s.lines],
        "consignments": [{"batch_id": c.batch_id, "first_serial": c.first_serial, "last_serial": c.last_serial,
                          "count": c.count, "at": local_iso(c.at, tz)} for c in s.consignments],
    }


def distributor_statement(s: DistributorStatement, first: dt.date, last: dt.date, tz: str) -> dict[str, Any]:
    """The document ``report distributor --json`` prints, times in the business zone."""
    return {
        "distributor_id": s.distributor_id, "name": s.name, "commission_bp": s.commission_bp,
        "currency": s.currency, "from": first.isoformat(), "to": last.isoformat(), "opening": money(s.opening),
        "closing": money(s.closing), "sold_count": s.sold_count, "sold_face_value": money(s.sold_face),
        "commission": money(s.commission), "closes": s.closes,
        "lines": [{"at": local_iso(x.at, tz), "kind": x.kind, "reference": x.reference, "count": x.count,
                   "face_value": money(x.face_value) if x.face_value is not None else None,
                   "commission": money(x.commission) if x.commission is not None else None,
                   "amount": money(x.amount)} for x in s.lines],
    }


def daily_close(r: DailyClose, checkpoint: dict[str, Any] | None = None) -> dict[str, Any]:
    """docs/contract.md: ``date``, ``balanced``, ``liability``, ``channels``, ``audit_head`` (and the signed
    ``checkpoint`` when the edge made one)."""
    rf = r.liability
    return {
        "date": r.day.isoformat(), "timezone": r.tz, "currency": r.currency,
        "start": local_iso(r.period.start, r.tz), "end": local_iso(r.period.end, r.tz),
        "balanced": r.balanced,
        "differences": [{"check": d.check, "amount": money(d.amount), "detail": d.detail} for d in r.differences],
        "channels": [{"channel": c.channel, "count": c.count, "money_in": money(c.money_in),
                      "settled": money(c.settled), "fees": money(c.fees)} for c in r.channels],
        "totals": {"money_in": money(r.money_in), "settled": money(r.settled), "fees": money(r.fees)},
        "liability": {
            **{line.key: money(line.amount) for line in (rf.opening, rf.activated, rf.redeemed, rf.expired,
                                                         rf.voided, rf.closing)},
            "counts": {line.key: line.count for line in (rf.opening, rf.activated, rf.redeemed, rf.expired,
                                                          rf.voided, rf.closing)},
            "computed_closing": money(rf.computed_closing),
            "ledger_opening": money(rf.ledger_opening), "ledger_closing": money(rf.ledger_closing),
        },
        "journal_imbalance": money(r.journal_imbalance),
        "audit_head": {"event_id": r.audit_head.event_id, "hash": r.audit_head.hash, "events": r.audit_head.events},
        "checkpoint": checkpoint,
    }
