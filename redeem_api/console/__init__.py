"""The staff console under ``/console/``: server-rendered pages over the same services as the CLI.

Contract (docs/contract.md): ``/console/login`` is a form with ``username``,
``password``, ``totp`` and a hidden ``csrf_token``; a successful login
redirects under ``/console/``; any other ``/console/...`` path without a live
session redirects (303) to ``/console/login``. Sessions are server-side
(:mod:`vouchers.staff.sessions`); the cookie is ``HttpOnly; SameSite=Strict``
and ``Secure`` (``VOUCHER_COOKIE_SECURE``), scoped to ``/console/``. This
process never signs: a batch approval here records the approval only.
"""
from __future__ import annotations

from flask import Flask

from redeem_api.console.gate import ConsoleState, EXTENSION, gate
from redeem_api.console.views import bp
from redeem_api.console import issuer_views  # noqa: F401 - the issuer's batch desk, on bp
from redeem_api.console import distributor_views  # noqa: F401 - the portal's activation and statement, on bp
from redeem_api.console import admin_views, finance_views, fraud_views, service_views  # noqa: F401 - pages on bp
from redeem_api.state import AppState
from vouchers.staff.totp import seal_key


def install(app: Flask, state: AppState) -> None:
    """Register the console's routes and its session gate (once per process)."""
    app.extensions[EXTENSION] = ConsoleState(state.config.settings.staff, seal_key(state.pepper))
    app.register_blueprint(bp)
    app.before_request(gate)
