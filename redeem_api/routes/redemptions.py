"""``POST /api/v1/redemptions`` (terminal role) and the redemption runner shared with the web page."""
from __future__ import annotations

from flask import Blueprint, request

from redeem_api import idempotency
from redeem_api.errors import ApiError
from redeem_api.http import (
    account_no_field,
    client_ip,
    current_client,
    json_response,
    now,
    read_json_object,
    require_roles,
    run_idempotent,
    text_field,
    today,
)
from redeem_api.redemption import Attempt, Context, check_code_format, check_throttle, redeem
from redeem_api.state import state

bp = Blueprint("redemptions", __name__, url_prefix="/api/v1")

_OUTCOMES = {
    "invalid_voucher": "invalid_voucher", "invalid_code_format": "invalid_code_format",
    "invalid_token": "invalid_token", "unknown_account": "unknown_account", "too_many_attempts": "throttled",
}


def context() -> Context:
    st = state()
    return Context(pepper=st.pepper, keyring=st.keyring.get(), throttle=st.throttle, limits=st.config.throttle,
                   canaries=st.config.canary_serials, now=now(), today=today())


def perform_redemption(attempt: Attempt, *, scope: str, client_pk: int | None, key: str, body: dict,
                       route: str) -> tuple[int, str, bool]:
    """Format check, throttle check, then the idempotent redemption; counts the outcome."""
    metrics = state().metrics
    try:
        check_code_format(attempt)
        ctx = context()
        status, text, replayed = run_idempotent(
            scope=scope, client_pk=client_pk, key=key, body=body, route=route,
            precheck=lambda s: check_throttle(s, attempt, ctx), handler=lambda s: (201, redeem(s, attempt, ctx)))
    except ApiError as e:
        metrics.count_redemption(_OUTCOMES.get(e.code, "error" if e.status >= 500 else "rejected"))
        raise
    except Exception:
        metrics.count_redemption("error")
        raise
    metrics.count_redemption("replayed" if replayed else "redeemed" if status == 201 else "rejected")
    return status, text, replayed


@bp.post("/redemptions")
@require_roles("terminal")
def create_redemption():
    client = current_client()
    body = read_json_object()
    key = idempotency.parse_key(request.headers.get("Idempotency-Key"))
    code_text = text_field(body, "code", max_length=1024)
    account_no = account_no_field(body)
    assert code_text is not None
    attempt = Attempt(code_text.strip(), account_no, "terminal", client, client_ip())
    status, text, replayed = perform_redemption(attempt, scope=f"client:{client.pk}", client_pk=client.pk, key=key,
                                                body=body, route="POST /api/v1/redemptions")
    return json_response(status, text, {"Idempotent-Replayed": "true"} if replayed else None)
