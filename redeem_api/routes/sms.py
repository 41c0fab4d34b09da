"""``POST /api/v1/sms/inbound``: a customer's top-up text (短信缴费), relayed by the SMS gateway.

The gateway authenticates with its API key (role ``sms_gateway``) and signs
each request (:func:`vouchers.services.sms_topup.check_signature`: HMAC-SHA256
with that key over ``<X-Timestamp>\\n<raw body>``, ±5 minutes). A request
seen before (same signature, or same ``message_id``) is refused with 409
before anything happens. ``CZ <户号> <code>`` redeems through the one
redemption runner (:func:`redeem_api.routes.redemptions.perform_redemption`,
channel ``sms``: throttled per sending number and per account); the reply to
the sender goes to the outbox (success: masked holder, amount, balance; every
refusal: one text; held for fraud review: "under review"; anything else: help;
every reply names the configured hotline). The gateway gets 200 with the
outcome; it never sees why a code was refused, and nothing logs the text.
"""
from __future__ import annotations

from flask import Blueprint, g, request
from sqlalchemy.orm import Session

from redeem_api.errors import ApiError, Forbidden, ValidationFailed
from redeem_api.http import bearer_client, client_ip, json_response, now, read_json_object
from redeem_api.redemption import Attempt
from redeem_api.routes.redemptions import perform_redemption
from redeem_api.state import db, state
from vouchers.services import sms_topup
from vouchers.services.clients import ClientInfo
from vouchers.sms_command import parse_topup

bp = Blueprint("sms", __name__, url_prefix="/api/v1")
ROUTE = "POST /api/v1/sms/inbound"
_ERRORS = {"signature_missing": "X-Timestamp and X-Signature are required",
           "signature_invalid": "the X-Signature does not match the body and timestamp",
           "timestamp_out_of_range": "X-Timestamp is more than 5 minutes from the server's clock"}


def _gateway() -> tuple[ClientInfo, str]:
    """The authenticated ``sms_gateway`` client and its API key (the signature's key)."""
    session = db()
    with session.begin():
        client = bearer_client(session)
    g._client = client
    if client.role != "sms_gateway":
        raise Forbidden(f"the {client.role} role may not call this route")
    return client, request.headers.get("Authorization", "").partition(" ")[2].strip()


def _field(body: dict, name: str, pattern) -> str:  # type: ignore[no-untyped-def]
    value = body.get(name)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ValidationFailed(f"{name} is missing or malformed")
    return value


@bp.post("/sms/inbound")
def inbound():
    client, api_key = _gateway()
    body = read_json_object()  # size and JSON checks first; the signature covers the raw bytes read here
    problem = sms_topup.check_signature(api_key, request.headers.get("X-Timestamp"), request.get_data(cache=True),
                                        request.headers.get("X-Signature"), now())
    if problem is not None:
        raise ApiError(_ERRORS[problem], status=401, code=problem)
    message_id = _field(body, "message_id", sms_topup.MESSAGE_ID)
    sender = _field(body, "from", sms_topup.SENDER)
    text = body.get("text")
    if not isinstance(text, str) or len(text) > 500:
        raise ValidationFailed("text must be a string of at most 500 characters")
    session = db()
    with session.begin():
        fresh = sms_topup.accept_once(session, client_pk=client.pk, message_id=message_id,
                                      given_signature=request.headers["X-Signature"], now=now())
    if not fresh:
        raise ApiError("this message was already processed", status=409, code="sms_replayed")
    outcome = _top_up(client, message_id, sender, text)
    return json_response(200, {"message_id": message_id, "outcome": outcome})


def _reply(template: str, sender: str, account_no: str | None) -> None:
    session = db()
    with session.begin():
        sms_topup.queue_reply(session, template=template, sender=sender, account_no=account_no, hotline=_hotline(),
                              now=now())


def _hotline() -> str:
    """The hotline every reply names: the configured branding's."""
    return state().config.branding.hotline


def _top_up(client: ClientInfo, message_id: str, sender: str, text: str) -> str:
    """``redeemed`` | ``held`` | ``refused`` | ``help``; the reply is in the outbox either way."""
    command = parse_topup(text)
    if command is None:
        _reply(sms_topup.HELP, sender, None)
        return "help"
    attempt = Attempt(command.code, command.account_no, "sms", client, client_ip(), sender=sender)

    def reply_success(session: Session, document: dict) -> None:
        sms_topup.queue_reply(session, template=sms_topup.REDEEMED, sender=sender, account_no=command.account_no,
                              hotline=_hotline(), now=now(), document=document)

    try:
        status, _text, _replayed = perform_redemption(
            attempt, scope=f"sms:{client.pk}", client_pk=client.pk, key=message_id,
            body={"account_no": command.account_no, "code": command.code}, route=ROUTE, on_redeemed=reply_success)
    except ApiError as e:
        if e.status >= 500:
            raise  # the database or a backing store is down: the gateway retries with a new message id
        status = e.status
    if status == 201:
        return "redeemed"
    if status == 202:  # held for fraud review: nothing credited yet, and not a refusal either
        _reply(sms_topup.HELD, sender, command.account_no)
        return "held"
    _reply(sms_topup.REFUSED, sender, command.account_no)
    return "refused"


inbound.allowed_roles = ("sms_gateway",)  # type: ignore[attr-defined]  # read by the role tests / docs
