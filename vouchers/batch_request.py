"""What a new batch must be (face value, count, expiry, currency, maker): one check for the CLI and the console.

Pure: the caller passes ``today`` and the installation's largest batch. The
issuer checks a request with it before generating; the console checks the
same request before recording it for the issuer process.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from vouchers.errors import VoucherError
from vouchers.money import check_currency
from vouchers.serials import MAX_SEQUENCE


class InvalidBatchRequest(VoucherError, ValueError):
    code = "invalid_batch_request"


@dataclass(frozen=True)
class BatchRequest:
    face_value: int
    count: int
    expires: dt.date
    currency: str
    operator: str


def validate_request(request: BatchRequest, *, today: dt.date, max_count: int) -> None:
    if isinstance(request.face_value, bool) or not isinstance(request.face_value, int) or request.face_value <= 0:
        raise InvalidBatchRequest("face value must be greater than zero")
    if isinstance(request.count, bool) or not isinstance(request.count, int) \
            or not 1 <= request.count <= min(max_count, MAX_SEQUENCE):
        raise InvalidBatchRequest(f"count must be between 1 and {min(max_count, MAX_SEQUENCE):,}")
    if request.expires <= today:
        raise InvalidBatchRequest(f"expiry {request.expires.isoformat()} is not in the future")
    check_currency(request.currency)
    if not request.operator or not request.operator.strip() or len(request.operator) > 100:
        raise InvalidBatchRequest("operator name is required (at most 100 characters)")
