"""What a signed voucher token asserts."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from vouchers.codes import CODE_LENGTH
from vouchers.money import check_currency

EPOCH = dt.date(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class VoucherClaims:
    serial: str
    batch_id: str
    face_value: int  # minor units
    currency: str
    expires: dt.date  # valid through this day
    code: str  # 20 digits, no separators

    def __post_init__(self) -> None:
        if isinstance(self.face_value, bool) or not isinstance(self.face_value, int) or self.face_value <= 0:
            raise ValueError("face_value must be a positive int of minor units")
        check_currency(self.currency)
        if not (isinstance(self.code, str) and len(self.code) == CODE_LENGTH and self.code.isascii() and self.code.isdigit()):
            raise ValueError("code must be 20 ASCII digits")
        if not isinstance(self.expires, dt.date) or isinstance(self.expires, dt.datetime):
            raise ValueError("expires must be a date")

    @property
    def expiry_day_number(self) -> int:
        return (self.expires - EPOCH).days

    def is_expired(self, today: dt.date) -> bool:
        return today > self.expires


def day_number_to_date(days: int) -> dt.date:
    return EPOCH + dt.timedelta(days=days)
