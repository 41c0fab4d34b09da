"""Channel files by format: ``generic`` (docs/contract.md §6.3) or an adapter (``alipay``)."""
from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from sqlalchemy.orm import Session

from vouchers.books.adapters.alipay import AlipayBill
from vouchers.books.errors import UnsupportedFormat
from vouchers.books.imports import ImportResult, import_file, import_lines
from vouchers.books.reconcile import ReconcileResult, reconcile_file, reconcile_lines
from vouchers.books.staging import OnRead, reading
from vouchers.storage.files import file_sha256
from vouchers.books.timeutil import DEFAULT_TZ

FORMATS = ("generic", "alipay")
# a channel's own bill format is booked under that channel only (else one bill books twice, once per channel)
FORMAT_CHANNELS = {"alipay": "alipay"}


def _check(fmt: str, channel: str) -> None:
    if fmt not in FORMATS:
        raise UnsupportedFormat(f"unknown file format {fmt!r}; known: {', '.join(FORMATS)}")
    owner = FORMAT_CHANNELS.get(fmt)
    if owner is not None and channel != owner:
        raise UnsupportedFormat(f"format {fmt} is the bill of channel {owner}; it cannot be booked or reconciled "
                                f"as channel {channel}")


def import_payments(session: Session, channel: str, path: Path, *, fmt: str = "generic", now: dt.datetime,
                    actor: str, tz: str = DEFAULT_TZ, on_read: OnRead | None = None) -> ImportResult:
    """Book ``path``; ``on_read`` hears how far into it reading has got (bytes; a progress bar)."""
    _check(fmt, channel)
    path = Path(path)
    if fmt == "generic":
        return import_file(session, channel, path, now=now, actor=actor, tz=tz, on_read=on_read)
    with path.open("rb") as f:
        bill = AlipayBill(reading(f, on_read), tz)
        result = import_lines(session, channel, bill, file_name=path.name, sha256=file_sha256(path), now=now,
                              actor=actor)
    return dataclasses.replace(result, skipped=tuple(bill.skipped))


def reconcile_payments(session: Session, channel: str, path: Path, *, fmt: str = "generic", now: dt.datetime,
                       actor: str, tz: str = DEFAULT_TZ, period: tuple[dt.datetime, dt.datetime] | None = None,
                       on_read: OnRead | None = None) -> ReconcileResult:
    """Reconcile ``path``; ``on_read`` hears how far into it reading has got (bytes; a progress bar)."""
    _check(fmt, channel)
    path = Path(path)
    if fmt == "generic":
        return reconcile_file(session, channel, path, now=now, actor=actor, tz=tz, period=period, on_read=on_read)
    with path.open("rb") as f:
        bill = AlipayBill(reading(f, on_read), tz)
        items = list(bill)  # the period is known from the header; the footer is checked at the end
        result = reconcile_lines(session, channel, items, file_name=path.name, sha256=file_sha256(path), now=now,
                                 actor=actor, tz=tz, period=period or bill.period, fees=bill.fees,
                                 refunds=bill.refunds)
    refund_lines = {r.line for r in bill.refunds}  # reconciled, not skipped
    result.skipped = [e for e in bill.skipped if e.line not in refund_lines]
    return result
