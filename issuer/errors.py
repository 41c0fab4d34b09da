from __future__ import annotations

from vouchers.errors import VoucherError


class IssuerError(VoucherError):
    code = "issuer_error"


from vouchers.batch_request import InvalidBatchRequest  # noqa: E402,F401 - checked by the console too


# Raised by the state changes that need no signing key (vouchers.storage.batch_states), named here too.
from vouchers.storage.batch_states import BatchNotFound, BatchStateError, MakerCheckerViolation  # noqa: E402


class CardStoreError(IssuerError):
    code = "card_store"


class ExportError(IssuerError):
    code = "export_error"
