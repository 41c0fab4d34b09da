"""STS tokens in the API's responses: the vending backend and tariff catalogue of this app.

Built on first use and kept in ``app.extensions``: the vending keys are
unsealed through the app's :class:`keystore.web_keys.WebKeys` (the web
secret; never signing keys); the catalogue is the shipped tariffs or
``VOUCHER_TARIFF_DIR``. Accounts without an STS meter never touch either.

:func:`add_sts` is what the redemption and payment paths call: it vends and
puts the ``sts`` object and the balance *after* the energy sale into the
response (so it matches ``GET /api/v1/accounts/<no>`` and the books).
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from flask import current_app, has_app_context
from sqlalchemy.orm import Session

from redeem_api.errors import ApiError
from vouchers.money import format_amount

if TYPE_CHECKING:
    from vending.service import CreditFields

_EXTENSION = "vouchers_sts"
_LOCK = threading.Lock()


def _support() -> dict[str, Any]:
    found = current_app.extensions.get(_EXTENSION)
    if found is None:
        with _LOCK:
            found = current_app.extensions.get(_EXTENSION)
            if found is None:
                from redeem_api.state import state
                from tariffs import load_catalog
                from vending.keys import backend_for

                config = state().config
                backend = backend_for(state().keys.vending_keys())
                catalog = load_catalog(config.settings.extra.get("VOUCHER_TARIFF_DIR") or None)
                found = current_app.extensions[_EXTENSION] = {"backend": backend, "catalog": catalog}
    return found


def add_sts(document: dict[str, object], session: Session, account_no: str, *, credited_minor: int,
            balance_minor: int, now, source: str, source_ref: str,  # type: ignore[no-untyped-def]
            actor: str) -> dict[str, object] | None:
    """Vend for an account with an active STS meter and put the outcome into the response ``document``.

    ``document`` gains the ``sts`` object, and its ``balance`` becomes the
    prepaid balance *after* the energy sale the vend booked
    (``balance_minor``, the balance right after the money was credited, minus
    the money sold), as ``GET /api/v1/accounts/<no>`` shows it afterwards. Returns
    the ``sts`` object, or None (no STS meter: ``document`` is left alone).
    A refusal becomes a 422 with the ``sts_*`` code (see :func:`sts_fields`).
    Accounts without an active meter cost one query (unless this request vended before).
    """
    found = _vend(session, account_no, credited_minor, now, source=source, source_ref=source_ref, actor=actor)
    if found is None:
        return None
    document["sts"] = found.sts
    document["balance"] = format_amount(balance_minor - found.sold_minor)
    return found.sts


def sts_fields(session: Session, account_no: str, credited_minor: int, now,  # type: ignore[no-untyped-def]
               *, source: str, source_ref: str, actor: str) -> dict[str, object] | None:
    """The ``sts`` response object for an account with an STS meter (None otherwise), without touching a document.

    A refusal (key expired, wrong key revision, amount too large...) becomes a
    422 with the ``sts_*`` code; the caller's transaction rolls back, so the
    redemption or payment does not happen either.
    """
    found = _vend(session, account_no, credited_minor, now, source=source, source_ref=source_ref, actor=actor)
    return found.sts if found is not None else None


def _vend(session: Session, account_no: str, credited_minor: int, now, *, source: str,  # type: ignore[no-untyped-def]
          source_ref: str, actor: str) -> CreditFields | None:
    from vending.errors import VendingError
    from vending.service import credit_fields, vends_for

    if not has_app_context() or not vends_for(session, account_no, source, source_ref):
        return None
    support = _support()
    try:
        return credit_fields(session, account_no, credited_minor, now, lambda: support["backend"],
                             catalog=support["catalog"], source=source, source_ref=source_ref, actor=actor)
    except VendingError as e:
        raise ApiError(f"no electricity token could be issued for this account's meter: {e}", status=422,
                       code=e.code) from e
