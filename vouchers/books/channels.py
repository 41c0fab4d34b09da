"""The payment channels and their clearing accounts.

A channel's clearing account (an asset) holds what the channel owes us
between the customer paying and the channel settling into our bank. The
``voucher`` channel has no clearing account of its own: the money came in
when the card was sold, so a redemption draws on ``voucher_liability``.
"""
from __future__ import annotations

from dataclasses import dataclass

from vouchers.books import chart
from vouchers.books.errors import UnknownChannel


@dataclass(frozen=True)
class Channel:
    code: str
    name_zh: str
    name_en: str
    settles: bool = True  # sends a settlement file that moves money to the bank

    @property
    def clearing_account(self) -> str:
        return chart.VOUCHER_LIABILITY if self.code == "voucher" else chart.clearing(self.code)


CHANNELS: dict[str, Channel] = {c.code: c for c in (
    Channel("bank_debit", "银行代扣", "bank auto-debit"),
    Channel("bank_counter", "银行柜台", "bank counter"),
    Channel("online_banking", "网上银行", "online banking"),
    Channel("counter_cash", "营业厅", "utility service hall (cash)"),
    Channel("pos_card", "POS刷卡", "POS card swipe"),
    Channel("alipay", "支付宝", "Alipay"),
    Channel("wechat_pay", "微信支付", "WeChat Pay"),
    Channel("postal_station", "邮政便民服务站", "postal convenience station"),
    Channel("sms", "短信", "SMS"),
    Channel("self_service_terminal", "自助终端", "self-service terminal"),
    Channel("voucher", "电费充值卡", "recharge voucher", settles=False),
)}


def get_channel(code: str) -> Channel:
    channel = CHANNELS.get(code) if isinstance(code, str) else None
    if channel is None:
        raise UnknownChannel(f"unknown channel {code!r}; known: {', '.join(CHANNELS)}")
    return channel


def payment_channel(code: str) -> Channel:
    """A channel that posts money (every channel but ``voucher``, which books by redemption)."""
    channel = get_channel(code)
    if channel.code == "voucher":
        raise UnknownChannel("vouchers are booked by redemption, not as channel payments")
    return channel
