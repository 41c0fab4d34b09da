"""What people read: display names (zh/en) of channels, accounts and statuses, and instants in business time.

One catalogue for every PDF, CSV and text output, so a channel is called the same
thing in the collection report, the finance report and the command line. Pure data
and pure functions: the caller passes the time zone (a ``tzinfo``) in; nothing here
reads the clock or a file.
"""
from __future__ import annotations

import datetime as dt
from typing import Literal

Lang = Literal["zh", "en"]
LANGS: tuple[str, ...] = ("zh", "en")

# kind -> id -> (zh, en). Unknown ids are shown as they are (a new channel still prints).
CATALOGUE: dict[str, dict[str, tuple[str, str]]] = {
    "channel": {
        "bank_debit": ("银行代扣", "bank auto-debit"), "bank_counter": ("银行柜台", "bank counter"),
        "online_banking": ("网上银行", "online banking"), "counter_cash": ("营业厅", "utility service hall (cash)"),
        "pos_card": ("POS刷卡", "POS card swipe"), "alipay": ("支付宝", "Alipay"), "wechat_pay": ("微信支付", "WeChat Pay"),
        "postal_station": ("邮政便民服务站", "postal convenience station"), "sms": ("短信", "SMS"),
        "self_service_terminal": ("自助终端", "self-service terminal"), "voucher": ("电费充值卡", "recharge voucher"),
        "none": ("从未缴费", "never paid"), "total": ("合计", "total"),
    },
    "account": {  # account classes and the shared accounts of vouchers.books.chart
        "bank": ("银行存款", "bank"), "clearing": ("渠道清算", "channel clearing"),
        "distributor": ("分销商应收", "distributor receivable"), "customer_arrears": ("客户欠费", "customer arrears"),
        "voucher_liability": ("充值卡负债", "voucher liability"), "customer_prepaid": ("客户预付款", "customer prepaid"),
        "revenue": ("收入", "revenue"), "revenue:electricity": ("售电收入", "electricity revenue"),
        "income": ("其他收入", "other income"), "income:breakage": ("过期未兑收入", "breakage income"),
        "expense": ("费用", "expenses"), "expense:commission": ("分销佣金", "distributor commission"),
        "expense:channel_fees": ("渠道手续费", "channel fees"),
        "asset": ("资产", "asset"), "liability": ("负债", "liability"),
    },
    "status": {
        "open": ("未缴", "open"), "paid": ("已结清", "paid"), "part_paid": ("部分缴纳", "partly paid"),
        "zero": ("零电费", "nothing to pay"), "booked": ("已入账", "booked"), "reversed": ("已冲正", "reversed"),
        "matched": ("已匹配", "matched"), "missing_in_books": ("账上无此笔", "missing in books"),
        "missing_in_file": ("对账文件无此笔", "missing in file"), "amount_mismatch": ("金额不符", "amount mismatch"),
        "account_mismatch": ("户号不符", "account mismatch"), "refunded": ("已退款", "refunded"),
        "active": ("已激活", "active"), "redeemed": ("已兑换", "redeemed"), "expired": ("已过期", "expired"),
        "voided": ("已作废", "voided"), "void": ("已作废", "void"),
        "opening": ("期初", "opening"), "activated": ("激活", "activated"), "closing": ("期末", "closing"),
        "red": ("红色预警", "red"), "yellow": ("黄色预警", "yellow"), "blue": ("蓝色预警", "blue"),
    },
    "area": {"(none)": ("未分区", "(no area)")},
}


def display_name(kind: str, key: str, lang: str) -> str:
    """The name people read for ``key`` of ``kind`` in ``lang`` (zh or en); ``key`` itself if not catalogued."""
    names = CATALOGUE.get(kind, {}).get(key)
    if names is None:
        return key
    return names[0] if lang == "zh" else names[1]


def utc_offset_label(moment: dt.datetime) -> str:
    """``UTC+8``, ``UTC-3:30``, ``UTC`` for an aware instant's offset."""
    offset = moment.utcoffset() or dt.timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    if minutes == 0:
        return "UTC"
    sign = "+" if minutes > 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def _aware(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("naive datetime: pass an aware instant (stored times are UTC)")
    return moment


def local_text(moment: dt.datetime, tz: dt.tzinfo, *, seconds: bool = False) -> str:
    """An instant as people read it: ``2026-12-06 09:00 (UTC+8)`` in business time ``tz`` (with ``seconds``:
    ``09:00:05``, for a replica's lag)."""
    local = _aware(moment).astimezone(tz)
    return f"{local:{'%Y-%m-%d %H:%M:%S' if seconds else '%Y-%m-%d %H:%M'}} ({utc_offset_label(local)})"


def local_iso(moment: dt.datetime, tz: dt.tzinfo) -> str:
    """An instant for a CSV or JSON reader: ISO 8601 in business time ``tz`` with its offset, whole seconds."""
    return _aware(moment).astimezone(tz).isoformat(timespec="seconds")


def percent_text(value: object, lang: str = "en") -> str:
    """A rate for text: ``97.5%``; a rate with nothing to measure (None) reads ``n/a`` / ``无``, never ``None``."""
    if value is None:
        return "无" if lang == "zh" else "n/a"
    return f"{value}%"


__all__ = ["CATALOGUE", "LANGS", "Lang", "display_name", "local_iso", "local_text", "percent_text",
           "utc_offset_label"]
