"""retention.idempotency (the idempotency purge lives beside the notification sender's tests)."""
from __future__ import annotations

import pytest

from vouchers.storage.retention import retention_days
from vouchers.config import ConfigError


def test_retention_days_from_config():
    assert retention_days({}) == 7
    assert retention_days({"VOUCHER_IDEMPOTENCY_RETENTION_DAYS": "30"}) == 30
    for bad in ("0", "-1", "x", "1.5"):
        with pytest.raises(ConfigError):
            retention_days({"VOUCHER_IDEMPOTENCY_RETENTION_DAYS": bad})
