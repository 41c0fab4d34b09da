from __future__ import annotations

from vouchers.errors import VoucherError


class IssuerError(VoucherError):
    code = "issuer_error"


class InvalidBatchRequest(IssuerError, ValueError):
    code = "invalid_batch_request"


class BatchNotFound(IssuerError):
    code = "batch_not_found"


class MakerCheckerViolation(IssuerError):
    code = "maker_checker"


class BatchStateError(IssuerError):
    code = "batch_state"


class CardStoreError(IssuerError):
    code = "card_store"


class ExportError(IssuerError):
    code = "export_error"
