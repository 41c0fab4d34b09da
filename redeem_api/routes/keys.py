"""``GET /api/v1/keys``: the public verification keys (the ``keys export-public`` document)."""
from __future__ import annotations

from flask import Blueprint

from redeem_api.http import json_response, require_roles
from redeem_api.state import state

bp = Blueprint("keys", __name__, url_prefix="/api/v1")


@bp.get("/keys")
@require_roles("terminal", "distributor", "channel", "finance", "admin")
def list_keys():
    return json_response(200, state().keyring.get().export())
