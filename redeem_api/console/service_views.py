"""Customer service pages: an account's STS tokens and a receipt reprint, a card's history by serial,
redemption lockouts and lifting one (with a reason, audited).

The same services as ``voucherctl sts reprint`` (:func:`vouchers.vending.service.reprint_last`,
:func:`vouchers.vending.receipts.render_receipt`), ``voucherctl fraud lockouts / unlock``
(:mod:`vouchers.services.fraud`) and ``voucherctl audit list --subject SERIAL``
(:mod:`vouchers.services.service_desk`).
"""
from __future__ import annotations

from flask import Response, g, redirect, request, url_for

from redeem_api.console.gate import NAV_EXTRA, lang, now, page
from redeem_api.console.guard import guard
from redeem_api.console.views import bp
from redeem_api.state import state
from vouchers.books.errors import LedgerError
from vouchers.errors import VoucherError
from vouchers.services import service_desk
from vouchers.services.fraud import list_lockouts
from vouchers.services.fraud import unlock as unlock_subject
from vouchers.services.staff import record_action
from vouchers.services.throttle import subject_keys
from vouchers.staff.roles import CUSTOMER_SERVICE, FRAUD_ANALYST
from vouchers.text import REASON_MAX, text_problem

TOKENS = frozenset({CUSTOMER_SERVICE})
CARDS = frozenset({CUSTOMER_SERVICE, FRAUD_ANALYST})
LOCKOUTS = frozenset({CUSTOMER_SERVICE, FRAUD_ANALYST})
UNLOCK_KINDS = ("account", "ip", "client")
NAV_EXTRA.extend([("console.card_page", "card_history", CARDS), ("console.lockouts_page", "lockouts", LOCKOUTS)])


# -- STS tokens and reprint --------------------------------------------------------------------

@bp.get("/service/accounts/<account_no>/tokens")
@guard(TOKENS)
def tokens_page(account_no: str) -> Response:
    account_no = account_no[:32]
    with state().sessions.begin() as s:
        tokens = service_desk.tokens_of(s, account_no)
        record_action(s, g.console, action="console.customer.tokens", subject_type="customer",
                      subject_id=account_no, now=now(), details={"tokens": len(tokens)})
    return page("service_tokens.html", account_no=account_no, tokens=tokens)


@bp.post("/service/meters/<pan>/reprint")
@guard(TOKENS, form=True)
def reprint_receipt(pan: str) -> Response:
    """The meter's last token again, as the 80 mm receipt PDF (a meter accepts each TID once: no new credit)."""
    from vouchers.vending.receipts import render_receipt
    from vouchers.vending.service import reprint_last

    st = state()
    branding = st.config.branding
    try:
        with st.sessions.begin() as s:
            result = reprint_last(s, pan[:32], now=now(), actor=g.console.staff.username)
            pdf = render_receipt(s, result, lang=lang(), config=st.services.metering, catalog=st.services.catalog,
                                 utility_name=branding.utility_name, hotline=branding.hotline, logo=branding.logo)
            record_action(s, g.console, action="console.sts.reprint", subject_type="sts_meter",
                          subject_id=result.pan, now=now(), details={"tid": result.tid})
    except VoucherError as e:
        return page("error.html", 404, message=str(e))
    response = Response(pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="receipt-{result.pan}-{result.tid}.pdf"'
    response.headers["Cache-Control"] = "no-store"
    return response


# -- a card by serial --------------------------------------------------------------------------

@bp.get("/service/cards")
@guard(CARDS)
def card_page() -> Response:
    serial = (request.args.get("serial") or "").strip()[:32]
    card, status = None, 200
    if serial:
        with state().sessions.begin() as s:
            card = service_desk.card_history(s, serial)
            record_action(s, g.console, action="console.card.view", subject_type="voucher", subject_id=serial,
                          now=now(), details={"found": card is not None})
        status = 200 if card is not None else 404
    return page("service_card.html", status, serial=serial, card=card, searched=bool(serial))


# -- lockouts ----------------------------------------------------------------------------------

def _lockouts_page(status: int = 200, **extra) -> Response:
    st = state()
    with st.sessions.begin() as s:
        found = list_lockouts(s, st.throttle, st.config.throttle, now=now(), locked_only=False)
    return page("service_lockouts.html", status, lockouts=found, kinds=UNLOCK_KINDS,
                done=request.args.get("done"), **extra)


@bp.get("/service/lockouts")
@guard(LOCKOUTS)
def lockouts_page() -> Response:
    return _lockouts_page()


@bp.post("/service/lockouts/unlock")
@guard(LOCKOUTS, form=True)
def unlock_lockout() -> Response:
    """Forget a subject's failures of the window (as ``voucherctl fraud unlock``), with a reason; audited."""
    kind = request.form.get("kind", "")
    value = request.form.get("subject", "").strip()[:101]
    reason = request.form.get("reason", "").strip()
    one_word = bool(value) and len(value) <= 100 and not any(c.isspace() for c in value)
    problem = (None if kind in UNLOCK_KINDS else "choose account, ip or client") \
        or (None if one_word else "the subject is one word") \
        or (text_problem(reason, REASON_MAX) if reason else "a reason is required")
    if problem:
        return _lockouts_page(400, message=problem)
    keys = subject_keys(account_no=value if kind == "account" else None, ip=value if kind == "ip" else None,
                        client_id=value if kind == "client" else None)
    st = state()
    try:
        with st.sessions.begin() as s:
            cleared = unlock_subject(s, st.throttle, keys, subject_type=kind, subject_id=value, reason=reason,
                                     now=now(), actor=g.console.staff.username)
            record_action(s, g.console, action="console.unlock", subject_type=kind, subject_id=value, now=now(),
                          reason=reason, details={"cleared": cleared})
    except LedgerError as e:
        return _lockouts_page(400, message=str(e))
    return redirect(url_for("console.lockouts_page", lang=lang(), done=f"{kind}:{value}:{cleared}"), code=303)
