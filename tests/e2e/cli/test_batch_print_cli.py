"""``voucherctl batch print`` end to end: failures are the real problem in one line, whatever the workers."""
from __future__ import annotations

import pytest

from tests.e2e.cli.conftest import FAR_EXPIRY


@pytest.fixture
def approved(cli) -> tuple:
    cli("init", check=True)
    cli("keys", "create", check=True)
    batch_id = cli("batch", "create", "--face-value", "10.00", "--count", "5", "--expires", FAR_EXPIRY,
                   "--operator", "alice", "--json", check=True).json()["batch_id"]
    cli("batch", "approve", batch_id, "--operator", "bob", check=True)
    return cli, batch_id


@pytest.mark.parametrize("workers", ["1", "2"])
def test_missing_sealed_card_file_is_named_with_any_worker_count(approved, tmp_path, workers):
    cli, batch_id = approved
    sealed = cli.home / "batches" / f"{batch_id}.cards.age"
    sealed.rename(tmp_path / "moved-away.age")
    result = cli("batch", "print", batch_id, "--out", str(tmp_path / "cards.pdf"), "--workers", workers)
    assert result.code == 1 and result.err.count("\n") == 1
    assert "sealed card file" in result.err and "missing" in result.err and "unexpected" not in result.err
    assert not list(tmp_path.glob("cards*.pdf"))
