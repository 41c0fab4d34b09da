"""``GET /api/v1/accounts/<account_no>``: balance and arrears of one electricity account (and, for a
prepaid account with a tariff, its available balance and what it buys in kWh), with the masked holder
and district a terminal shows before redeeming (:mod:`redeem_api.holder_lookup`: throttled per client)."""
from __future__ import annotations

from flask import Blueprint

from vouchers.books.customers import customer_summary
from vouchers.books.errors import UnknownAccount as LedgerUnknownAccount
from redeem_api.errors import UnknownAccount
from redeem_api.holder_lookup import look_up_holder
from redeem_api.http import client_ip, current_client, json_response, now, require_roles, valid_account_no
from redeem_api.metering_support import kwh_document
from redeem_api.state import db, state
from vouchers.money import format_amount

bp = Blueprint("accounts", __name__, url_prefix="/api/v1")


@bp.get("/accounts/<account_no>")
@require_roles("terminal", "channel", "finance", "service", "admin")
def get_account(account_no: str):
    session = db()
    st = state()
    if not valid_account_no(account_no):  # counted like an unknown account: a lookup all the same
        account_no = "-"
    holder = look_up_holder(session, account_no, client=current_client(), ip=client_ip(), throttle=st.throttle,
                            limits=st.config.throttle, now=now())
    try:
        with session.begin():
            summary = customer_summary(session, account_no)
            kwh = kwh_document(session, summary.account_no, now=now())
    except LedgerUnknownAccount as e:
        raise UnknownAccount(f"no electricity account {account_no}") from e
    return json_response(200, {
        "account_no": summary.account_no,
        "balance": format_amount(summary.balance),
        "arrears": format_amount(summary.arrears),
        "currency": summary.currency,
        **holder.as_json(),
        **kwh,
    })
