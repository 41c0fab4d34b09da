"""``GET /api/v1/accounts/<account_no>``: balance and arrears of one electricity account (and, for a
prepaid account with a tariff, its available balance and what it buys in kWh)."""
from __future__ import annotations

from flask import Blueprint, g

from vouchers.books.customers import customer_summary
from vouchers.books.errors import UnknownAccount as LedgerUnknownAccount
from redeem_api.errors import TooManyAttempts, UnknownAccount
from redeem_api.http import json_response, now, require_roles, valid_account_no
from redeem_api.metering_support import kwh_document
from redeem_api.state import db, state
from vouchers.services.throttle import Limit, Locked, client_key
from vouchers.money import format_amount

bp = Blueprint("accounts", __name__, url_prefix="/api/v1")


@bp.get("/accounts/<account_no>")
@require_roles("terminal", "channel", "finance", "admin")
def get_account(account_no: str):
    # Throttled like a failed redemption (account numbers must not be enumerable): each lookup is counted
    # against the client first (refused while it is locked out), and given back if the account exists.
    st = state()
    session = db()
    summary = None
    try:
        with session.begin():
            ticket = st.throttle.acquire(session, [Limit(client_key(g._client.client_id),
                                                         st.config.throttle.client_failures)], now())
            try:
                if valid_account_no(account_no):
                    summary = customer_summary(session, account_no)
                    kwh = kwh_document(session, summary.account_no, now=now())
                    st.throttle.release(session, ticket)
            except LedgerUnknownAccount:
                pass  # the count stands, and commits
            except BaseException:
                st.throttle.abandon(ticket)
                raise
    except Locked as e:
        raise TooManyAttempts(e.retry_after) from e
    if summary is None:
        raise UnknownAccount(f"no electricity account {account_no}")
    return json_response(200, {
        "account_no": summary.account_no,
        "balance": format_amount(summary.balance),
        "arrears": format_amount(summary.arrears),
        "currency": summary.currency,
        **kwh,
    })
