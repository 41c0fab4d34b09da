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
from vouchers.display import CATALOGUE


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
    Channel("bank_debit", *CATALOGUE["channel"]["bank_debit"]),
    Channel("bank_counter", *CATALOGUE["channel"]["bank_counter"]),
    Channel("online_banking", *CATALOGUE["channel"]["online_banking"]),
    Channel("counter_cash", *CATALOGUE["channel"]["counter_cash"]),
    Channel("pos_card", *CATALOGUE["channel"]["pos_card"]),
    Channel("alipay", *CATALOGUE["channel"]["alipay"]),
    Channel("wechat_pay", *CATALOGUE["channel"]["wechat_pay"]),
    Channel("postal_station", *CATALOGUE["channel"]["postal_station"]),
    Channel("sms", *CATALOGUE["channel"]["sms"]),
    Channel("self_service_terminal", *CATALOGUE["channel"]["self_service_terminal"]),
    Channel("voucher", *CATALOGUE["channel"]["voucher"], settles=False),
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
