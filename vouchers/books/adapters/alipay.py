"""An Alipay-style merchant bill (支付宝业务明细) onto the generic payment lines.

The bill is GBK-encoded CSV: ``#`` header lines (account, period), a column
header, one line per business item with fields padded by a trailing tab, and
``#`` footer lines with totals. Mapping:

- external_ref  <- 支付宝交易号 (Alipay's trade number: what the channel posted)
- account_no    <- ``户号`` in 备注 (remark), else in 商品名称 (item name)
- amount        <- 订单金额（元）
- paid_at       <- 完成时间 (Beijing time)
- currency      <- CNY
- fee           <- 服务费（元） (negative on a trade: what Alipay keeps; collected in ``fees``)

Only 业务类型 ``交易`` lines are payments. Refunds (``退款``, same 支付宝交易号 as
the trade they refund, positive 订单金额, the fee given back as a positive
服务费) are collected in ``refunds`` for reconciliation, which reverses the
payment, and listed in ``skipped`` (an import books no refund). The footers'
counts and totals (trades, their fees, refunds) must agree with the lines, so a
truncated bill is refused.
"""
from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from vouchers.books.csvformat import (REF_PATTERN, LineProblem, PaymentLine, decoded_lines, parse_fields, parse_timestamp,
                              ref_problem)
from vouchers.books.errors import FileRejected, LineError, UnsupportedFormat
from vouchers.books.refunds import RefundLine
from vouchers.books.timeutil import zone
from vouchers.errors import InvalidMoney
from vouchers.money import parse_amount

ENCODING = "gbk"
TITLE = "#支付宝业务明细查询"
COLUMNS = ("支付宝交易号", "商户订单号", "业务类型", "商品名称", "创建时间", "完成时间", "门店编号", "门店名称",
           "操作员", "终端号", "对方账户", "订单金额（元）", "商家实收（元）", "支付宝红包（元）", "集分宝（元）",
           "支付宝优惠（元）", "商家优惠（元）", "券核销金额（元）", "券名称", "商家红包消费金额（元）",
           "卡消费金额（元）", "退款批次号/请求号", "服务费（元）", "分润（元）", "备注")
_PERIOD = re.compile(r"起始日期：\[(.+?)\]\s*终止日期：\[(.+?)\]")
_CN_TIME = re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日 (\d{2}):(\d{2}):(\d{2})$")
_TOTAL = re.compile(r"^#交易合计：(\d+)笔，商家实收共：(-?[0-9.]+)元")
_REFUND_TOTAL = re.compile(r"^#退款合计：(\d+)笔，商家实收共：(-?[0-9.]+)元")
_FEE_TOTAL = re.compile(r"服务费共：([-+]?[0-9.]+)元")
_REF = re.compile(REF_PATTERN)
_ACCOUNT = re.compile(r"户号[:：]?\s*([0-9A-Za-z][0-9A-Za-z-]{0,31})")
TRADE, REFUND = "交易", "退款"


@dataclass
class AlipayBill:
    """Reads one bill. Iterate for the payment lines (or line errors); then the footer is checked."""

    stream: BinaryIO
    tz: str | dt.tzinfo | None = None
    alipay_account: str | None = None
    period: tuple[dt.datetime, dt.datetime] | None = None
    skipped: list[LineError] = field(default_factory=list)
    trade_count: int = 0
    trade_total: int = 0
    fee_total: int = 0  # 服务费 charged on the trade lines (minor units, >= 0), as the footer counts it
    fees: dict[str, int] = field(default_factory=dict)  # trade reference -> fee charged (minor units, >= 0)
    refunds: list[RefundLine] = field(default_factory=list)
    refund_total: int = 0  # 商家实收 given back, minor units (> 0)
    _lines: Iterator[str] | None = None
    _number: int = 0

    def __post_init__(self) -> None:
        self._lines = decoded_lines(self.stream, ENCODING, "Alipay bills are GBK (the generic format is UTF-8)")
        first = self._next()
        if first is None or not first.strip().startswith(TITLE):
            raise UnsupportedFormat(
                "not an Alipay bill: it must start with " + TITLE + " and be GBK-encoded"
                + (" (this file looks like UTF-8)" if first is not None and "鏀" in first else ""))
        while True:
            line = self._next()
            if line is None:
                raise FileRejected("the Alipay bill ends before its column header")
            stripped = line.strip()
            if stripped.startswith("#账号"):
                self.alipay_account = stripped.partition("[")[2].rstrip("]") or None
            elif (period := _PERIOD.search(stripped)) is not None:
                self.period = (self._cn_time(period.group(1)), self._cn_time(period.group(2)))
            elif not stripped.startswith("#"):
                header = tuple(c.strip() for c in next(csv.reader([line])))
                if header[: len(COLUMNS)] != COLUMNS:
                    raise FileRejected(f"line {self._number}: unexpected Alipay column header")
                return

    def _next(self) -> str | None:
        assert self._lines is not None
        try:
            line = next(self._lines)
        except StopIteration:
            return None
        self._number += 1
        return line.rstrip("\r\n")

    def _cn_time(self, text: str) -> dt.datetime:
        match = _CN_TIME.match(text.strip())
        if match is None:
            raise FileRejected(f"line {self._number}: unreadable date {text!r} in the bill header")
        y, mo, d, h, mi, s = (int(g) for g in match.groups())
        return dt.datetime(y, mo, d, h, mi, s, tzinfo=zone(self.tz)).astimezone(dt.timezone.utc)

    def __iter__(self) -> Iterator[PaymentLine | LineError]:
        footer_total: tuple[int, int] | None = None
        footer_fee: int | None = None
        refund_footer: tuple[int, int, int | None] | None = None
        while (line := self._next()) is not None:
            stripped = line.strip()
            if not stripped:
                continue
            if stripped.startswith("#"):
                fee = _FEE_TOTAL.search(stripped)
                if (total := _TOTAL.match(stripped)) is not None:
                    footer_total = (int(total.group(1)), parse_amount(total.group(2).lstrip("-")))
                    footer_fee = -_signed(fee.group(1)) if fee is not None else None
                elif (total := _REFUND_TOTAL.match(stripped)) is not None:
                    refund_footer = (int(total.group(1)), parse_amount(total.group(2).lstrip("-")),
                                     _signed(fee.group(1)) if fee is not None else None)
                continue
            yield from self._item(line)
        if footer_total is None:
            raise FileRejected("the Alipay bill has no totals footer (#交易合计): truncated?")
        if footer_total != (self.trade_count, self.trade_total):
            raise FileRejected(
                f"the Alipay bill's footer says {footer_total[0]} trades, {footer_total[1]} fen; its lines add "
                f"up to {self.trade_count} trades, {self.trade_total} fen: truncated or edited")
        if footer_fee is not None and footer_fee != self.fee_total:
            raise FileRejected(f"the Alipay bill's footer says {footer_fee} fen of trade fees; its lines add up to "
                               f"{self.fee_total} fen: truncated or edited")
        refunds = (len(self.refunds), self.refund_total, sum(r.fee_returned for r in self.refunds))
        if refund_footer is not None and (refund_footer[:2] != refunds[:2]
                                          or refund_footer[2] not in (None, refunds[2])):
            raise FileRejected(
                f"the Alipay bill's refund footer says {refund_footer[0]} refunds, {refund_footer[1]} fen; its lines "
                f"add up to {refunds[0]} refunds, {refunds[1]} fen (fees {refunds[2]}): truncated or edited")

    def _item(self, line: str) -> Iterator[PaymentLine | LineError]:
        number = self._number
        try:
            fields = [f.strip() for f in next(csv.reader([line], strict=True))]
        except csv.Error as e:
            yield LineError(number, f"malformed CSV: {e}")
            return
        if len(fields) < len(COLUMNS):
            yield LineError(number, f"expected {len(COLUMNS)} fields, found {len(fields)}", fields[0] or None)
            return
        row = dict(zip(COLUMNS, fields))
        kind = row["业务类型"]
        if kind == REFUND:
            self.skipped.append(LineError(number, "refund: reverse the original payment", row["支付宝交易号"]))
            yield from self._refund(number, row)
            return
        if kind != TRADE:
            self.skipped.append(LineError(number, f"business type {kind!r} is not a payment", row["支付宝交易号"]))
            return
        try:
            received = parse_amount(row["商家实收（元）"])
        except InvalidMoney as e:
            yield LineError(number, f"商家实收 {row['商家实收（元）']!r}: {e}", row["支付宝交易号"] or None)
            return
        self.trade_count += 1
        self.trade_total += received
        try:
            fee = -_signed(row["服务费（元）"])
        except InvalidMoney as e:
            yield LineError(number, f"服务费 {row['服务费（元）']!r}: {e}", row["支付宝交易号"] or None)
            return
        self.fee_total += fee
        account = _ACCOUNT.search(row["备注"]) or _ACCOUNT.search(row["商品名称"])
        if account is None:
            yield LineError(number, "no 户号 (account number) in 备注 or 商品名称", row["支付宝交易号"] or None)
            return
        generic = [row["支付宝交易号"], account.group(1), row["订单金额（元）"], "CNY", row["完成时间"]]
        try:
            payment = parse_fields(generic, number, self.tz)
        except LineProblem as e:
            yield LineError(number, str(e), row["支付宝交易号"] or None)
            return
        if not 0 <= fee <= payment.amount:
            yield LineError(number, f"服务费 {row['服务费（元）']!r}: a trade's fee is charged (≤ 0) and at most "
                                    "the order amount", payment.external_ref)
            return
        self.fees[payment.external_ref] = fee
        yield payment

    def _refund(self, number: int, row: dict[str, str]) -> Iterator[LineError]:
        """Collect a refund line for reconciliation; a line error if it cannot be read."""
        ref = row["支付宝交易号"]
        try:
            if not _REF.match(ref):
                raise LineProblem(f"支付宝交易号: {ref_problem(ref)}")
            amount = parse_amount(row["订单金额（元）"])
            given_back = _signed(row["商家实收（元）"])
            fee = _signed(row["服务费（元）"])
            refunded_at = parse_timestamp(row["完成时间"], self.tz)
        except (InvalidMoney, LineProblem) as e:
            yield LineError(number, f"refund line: {e}", ref or None)
            return
        if amount <= 0 or given_back > 0 or fee < 0:
            yield LineError(number, "refund line: 订单金额 must be > 0, 商家实收 ≤ 0 and 服务费 ≥ 0", ref)
            return
        account = _ACCOUNT.search(row["备注"]) or _ACCOUNT.search(row["商品名称"])
        self.refund_total += -given_back
        self.refunds.append(RefundLine(number, ref, amount, "CNY", refunded_at,
                                       account.group(1) if account is not None else None,
                                       row["退款批次号/请求号"] or None, fee))


def _signed(text: str) -> int:
    """A signed decimal amount such as ``-0.60`` in minor units; an empty field is 0."""
    text = text.strip()
    if not text:
        return 0
    sign = -1 if text.startswith("-") else 1
    return sign * parse_amount(text[1:] if text[:1] in "+-" else text)
