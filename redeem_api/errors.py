"""The API's one exception family: every refusal has an HTTP status and a stable code.

Rendered as ``{"error": {"code": ..., "message": ...}}``. Messages never
repeat a code, token or key.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from vouchers.vending.errors import VendingError

# Message of the one answer for unknown, inactive, used, expired and void codes.
INVALID_VOUCHER_MESSAGE = "this voucher cannot be redeemed: check the code, or ask the seller"


class ApiError(Exception):
    """A refusal with a status and a stable code.

    ``storable``: the refusal follows deterministically from the request, so
    an Idempotency-Key replay may return it. ``after_rollback`` runs in a
    fresh transaction after the request's transaction rolled back (failure
    counters, fraud alerts).
    """

    status = 400
    code = "bad_request"
    storable = True

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 headers: Mapping[str, str] | None = None,
                 after_rollback: Callable[[Session], None] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.headers = dict(headers or {})
        self.after_rollback = after_rollback

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


class BadRequest(ApiError):
    status, code = 400, "bad_request"


class MalformedJson(ApiError):
    status, code = 400, "malformed_json"


class ValidationFailed(ApiError):
    status, code = 400, "validation_error"


class IdempotencyKeyRequired(ApiError):
    status, code = 400, "idempotency_key_required"


class InvalidIdempotencyKey(ApiError):
    status, code = 400, "invalid_idempotency_key"


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"
    storable = False

    def __init__(self, message: str = "a valid API key is required: Authorization: Bearer <api_key>") -> None:
        super().__init__(message, headers={"WWW-Authenticate": 'Bearer realm="vouchers"'})


class Forbidden(ApiError):
    status, code = 403, "forbidden"
    storable = False


class NotFound(ApiError):
    status, code = 404, "not_found"


class UnknownAccount(ApiError):
    status, code = 404, "unknown_account"


class VoucherNotFound(ApiError):
    status, code = 404, "voucher_not_found"


class Conflict(ApiError):
    status, code = 409, "conflict"


class BalanceOutOfRange(ApiError):
    """Booking would move a balance (or another stored total) past the books' 64-bit range: refused whole."""

    status, code = 409, "balance_out_of_range"
    storable = False

    def __init__(self) -> None:
        super().__init__("this would take a balance beyond the range the books can hold; nothing was booked")


class IdempotencyInFlight(ApiError):
    status, code = 409, "idempotency_in_flight"
    storable = False


class PayloadTooLarge(ApiError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(ApiError):
    status, code = 415, "unsupported_media_type"


class Unprocessable(ApiError):
    status, code = 422, "unprocessable"


class InvalidVoucher(ApiError):
    """The single answer for every code that cannot be redeemed (no oracle)."""

    status, code = 422, "invalid_voucher"

    def __init__(self, *, after_rollback: Callable[[Session], None] | None = None) -> None:
        super().__init__(INVALID_VOUCHER_MESSAGE, after_rollback=after_rollback)


class IdempotencyKeyReused(ApiError):
    status, code = 422, "idempotency_key_reused"
    storable = False


class TooManyAttempts(ApiError):
    status, code = 429, "too_many_attempts"
    storable = False

    def __init__(self, retry_after: int) -> None:
        retry_after = max(1, int(retry_after))
        super().__init__(f"too many failed attempts: try again in {retry_after} seconds",
                         headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


class ChallengeRequired(ApiError):
    """The web page asks an attempt from a busy address for a proof of work of ``bits`` (nothing counted)."""

    status, code = 429, "challenge_required"
    storable = False

    def __init__(self, bits: int) -> None:
        super().__init__(f"many failed attempts come from your network: this page must first solve a {bits}-bit "
                         "puzzle (it does so by itself), then submit again")
        self.bits = bits


class ServiceUnavailable(ApiError):
    status, code = 503, "service_unavailable"
    storable = False

    def __init__(self, message: str = "the service is temporarily unavailable: retry later",
                 retry_after: int = 5) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})


def token_refused(error: VendingError) -> ApiError:
    """A keypad meter's token refused (``sts_*`` code: key expired, wrong key revision, amount too large...):
    a 422, and the caller's transaction rolls back, so the money does not move either."""
    return ApiError(f"no electricity token could be issued for this account's meter: {error}", status=422,
                    code=error.code)
