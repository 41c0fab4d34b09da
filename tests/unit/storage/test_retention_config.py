"""retention.idempotency: the replay guarantee's days come from the typed settings (the purge takes a number)."""
from __future__ import annotations

import pytest

from vouchers.config import ConfigError, Settings


def test_retention_days_from_config():
    assert Settings.from_env({}).idempotency_retention_days == 7
    assert Settings.from_env({"VOUCHER_IDEMPOTENCY_RETENTION_DAYS": "30"}).idempotency_retention_days == 30
    for bad in ("0", "-1", "x", "1.5"):
        with pytest.raises(ConfigError, match="VOUCHER_IDEMPOTENCY_RETENTION_DAYS"):
            Settings.from_env({"VOUCHER_IDEMPOTENCY_RETENTION_DAYS": bad})
