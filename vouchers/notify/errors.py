"""Errors of the notification sender; every one carries a stable code."""
from __future__ import annotations

from vouchers.errors import VoucherError


class NotifyError(VoucherError):
    code = "notify_error"


class GatewayNotConfigured(NotifyError):
    """Neither an HTTP gateway nor a file sink is configured."""

    code = "sms_gateway_not_configured"


class GatewayError(NotifyError):
    """One delivery failed; the message is one line and holds no secret."""

    code = "sms_gateway_error"


class RenderError(NotifyError):
    """A message that can never be rendered (unknown kind, bad payload): it will not get better."""

    code = "sms_render_error"
