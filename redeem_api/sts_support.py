"""STS tokens in the API's responses: the vending backend and tariff catalogue of this app.

Built on first use and kept in ``app.extensions``: the vending keys are
unsealed (``keystore.vending_keys``, never signing keys) with the app's
key-store passphrase; the catalogue is the shipped tariffs or
``VOUCHER_TARIFF_DIR``. Accounts without an STS meter never touch either.
"""
from __future__ import annotations

import threading
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy.orm import Session

from redeem_api.errors import ApiError

_EXTENSION = "vouchers_sts"
_LOCK = threading.Lock()


def _support() -> dict[str, Any]:
    found = current_app.extensions.get(_EXTENSION)
    if found is None:
        with _LOCK:
            found = current_app.extensions.get(_EXTENSION)
            if found is None:
                from keystore.store import KeyStore
                from redeem_api.state import state
                from tariffs import load_catalog
                from vending.keys import software_backend

                config = state().config
                backend = software_backend(KeyStore(config.settings.home), config.passphrase)
                catalog = load_catalog(config.settings.extra.get("VOUCHER_TARIFF_DIR") or None)
                found = current_app.extensions[_EXTENSION] = {"backend": backend, "catalog": catalog}
    return found


def sts_fields(session: Session, account_no: str, credited_minor: int, now, *, source: str,  # type: ignore[no-untyped-def]
               source_ref: str, actor: str) -> dict[str, object] | None:
    """The ``sts`` response object for an account with an STS meter (None otherwise).

    A refusal (key expired, wrong key revision, amount too large...) becomes a
    422 with the ``sts_*`` code; the caller's transaction rolls back, so the
    redemption or payment does not happen either.
    """
    from vending.errors import VendingError
    from vending.meters import find_meter
    from vending.service import sts_fields as vend_fields

    if not has_app_context() or find_meter(session, account_no) is None:
        return None
    support = _support()
    try:
        return vend_fields(session, account_no, credited_minor, now, lambda: support["backend"],
                           catalog=support["catalog"], source=source, source_ref=source_ref, actor=actor)
    except VendingError as e:
        raise ApiError(f"no electricity token could be issued for this account's meter: {e}", status=422,
                       code=e.code) from e
